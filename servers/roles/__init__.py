"""The process roles of `paygate serve --role ROLE`, one module or package each.

api        roles/api.py        the public gRPC services (behind Envoy)
vault      roles/vault/        VaultInternalService: the PCI zone
worker     roles/worker/       scheduled batch jobs, with a health service
web        roles/web/          the pages a shopper's browser opens
acquirer   roles/acquirer.py   hosts the sandbox's simulated acquirers (sandbox/acquirer)
"""
