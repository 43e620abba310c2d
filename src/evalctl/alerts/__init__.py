"""Alert delivery and integrations for `evalctl monitor` (README: "Alerts and integrations").

- `rules`: which checks to notify about (status change or every failing run; quiet hours);
- `payload`: the JSON payload (schema `alert-payload.v1.json`), its Slack variant and the
  `Idempotency-Key`;
- `secrets`: `${VAR}` expansion at send time, and redaction of what was expanded;
- `deliver`: one HTTP POST with timeouts and retries (exponential backoff, full jitter);
- `log`: the delivery log in the store (outbox, exclusive claims, `.sent` records);
- `notify`: the monitor's notification step, built from the above;
- `prometheus`: gauges in the Prometheus text format and OpenMetrics.
"""
