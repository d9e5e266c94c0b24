"""What an operator sees of a process: Prometheus metrics and OpenTelemetry traces."""
