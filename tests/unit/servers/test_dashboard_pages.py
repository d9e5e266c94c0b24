"""DashboardPageService: the dashboard's page and its assets over a real in-process gRPC
server shaped like the web role, with the headers the browser gets."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import grpc
import pytest
from paygate.v1 import dashboard_pages_pb2, dashboard_pages_pb2_grpc

from servers.roles.api import PAGE_SERVICES, start
from servers.roles.web import assets, pages
from tests.fakes import in_memory_app


@pytest.fixture
async def dashboard() -> AsyncIterator[dashboard_pages_pb2_grpc.DashboardPageServiceStub]:
    app = in_memory_app()
    server, _, port = await start(app, "127.0.0.1:0", PAGE_SERVICES)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield dashboard_pages_pb2_grpc.DashboardPageServiceStub(channel)
    finally:
        await server.stop(None)
        await app.aclose()


async def test_the_page_loads_the_app_and_may_not_be_framed(
    dashboard: dashboard_pages_pb2_grpc.DashboardPageServiceStub,
) -> None:
    call = dashboard.GetDashboardPage(dashboard_pages_pb2.GetDashboardPageRequest())
    page = await call
    assert page.content_type == "text/html; charset=utf-8"
    assert b'src="dashboard/assets/app.js"' in page.data
    assert b'href="dashboard/assets/app.css"' in page.data
    headers = dict(await call.initial_metadata())
    assert headers["x-frame-options"] == "DENY"
    policy = headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy and "script-src 'self'" in policy
    assert "unsafe-inline" not in policy and "connect-src 'self'" in policy
    assert headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("app.js", "text/javascript; charset=utf-8"),
        ("app.css", "text/css; charset=utf-8"),
        ("openapi.json", "application/json"),
    ],
)
async def test_each_asset_is_served_with_its_type(
    dashboard: dashboard_pages_pb2_grpc.DashboardPageServiceStub, name: str, content_type: str
) -> None:
    call = dashboard.GetDashboardAsset(dashboard_pages_pb2.GetDashboardAssetRequest(name=name))
    asset = await call
    assert asset.content_type == content_type
    assert asset.data == assets.DASHBOARD[name][0].read_bytes()
    assert dict(await call.initial_metadata())["x-content-type-options"] == "nosniff"


async def test_the_reference_reads_the_generated_openapi_document(
    dashboard: dashboard_pages_pb2_grpc.DashboardPageServiceStub,
) -> None:
    asset = await dashboard.GetDashboardAsset(
        dashboard_pages_pb2.GetDashboardAssetRequest(name="openapi.json")
    )
    document = json.loads(asset.data)
    assert "/v1/payment_intents" in document["paths"]
    assert "/dashboard" in document["paths"]


@pytest.mark.parametrize("name", ["page.js", "../app.js", "dashboard/app.js", ""])
async def test_anything_else_is_not_found(
    dashboard: dashboard_pages_pb2_grpc.DashboardPageServiceStub, name: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await dashboard.GetDashboardAsset(dashboard_pages_pb2.GetDashboardAssetRequest(name=name))
    assert raised.value.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT)


def test_the_shell_holds_no_data() -> None:
    html = pages.dashboard_page().decode()
    assert "acct_" not in html and "sk_" not in html and "<script>" not in html
