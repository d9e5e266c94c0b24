"""What runs the processes rather than serving requests: settings, logging, migrations, the
embedded PostgreSQL, Envoy's configuration and the `paygate up` supervisor."""
