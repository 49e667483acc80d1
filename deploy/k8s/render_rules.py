"""Write deploy/k8s/components/prometheus/prometheusrule.yaml from deploy/prometheus/alerts.yml (same groups)."""

from pathlib import Path

import yaml

DEPLOY = Path(__file__).resolve().parent.parent
HEADER = """\
# prometheus-operator: the alert rules of deploy/prometheus/alerts.yml (the same groups; a test
# keeps them equal). Regenerate with `make k8s-rules`.
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: decay-stream
  labels:
    app.kubernetes.io/name: decay-stream
    release: kube-prometheus-stack
spec:
"""


def main() -> None:
    alerts = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    body = yaml.safe_dump(alerts, sort_keys=False, width=100)
    indented = "".join("  " + line if line.strip() else line for line in body.splitlines(True))
    (DEPLOY / "k8s" / "components" / "prometheus" / "prometheusrule.yaml").write_text(HEADER + indented)


if __name__ == "__main__":
    main()
