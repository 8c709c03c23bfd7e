#!/usr/bin/env python3
"""A real Prometheus server scrapes two demo MTAs and stores the names they serve.

Run by scripts/test:  prometheus_names.py PROMETHEUS_BINARY MTA_BINARY

One demo serves /metrics with its default (Prometheus text 0.0.4 only), the other with
`--metrics-openmetrics` (OpenMetrics 1.0 to a scraper that asks for it, as Prometheus does).
Prometheus scrapes both every second. The check pins both behaviours:

* job "text": `total_messages_delivered` is stored and `total_messages_delivered_total` is not,
  the names that `curl /metrics` shows and that KumoMTA's dashboards use;
* job "openmetrics": the reverse, OpenMetrics' `_total` rule;
* `up` is 1 for both, and `scrape_samples_scraped` equals the number of samples in one
  /metrics body of that demo, counted by prometheus_client's own parsers.

Exits 0 when every check passes, 1 otherwise; prints what it saw.
"""

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as parse_openmetrics,
)
from prometheus_client.parser import text_string_to_metric_families as parse_text

OPENMETRICS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(url, data=None, headers=None, timeout=5):
    req = urllib.request.Request(url, data=data, headers=headers or {})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return resp.read().decode()


def wait_for(what, timeout, probe):
    """Calls probe until it returns a true value; returns it, or exits after `timeout` s."""
    end = time.monotonic() + timeout
    last = None
    while time.monotonic() < end:
        try:
            got = probe()
            if got:
                return got
        except OSError as e:  # connection refused while starting, and the like
            last = e
        time.sleep(0.2)
    sys.exit(f"FAILED: {what} within {timeout} s (last error: {last})")


def start_demo(mta, folder, extra):
    port = free_port()
    spool = os.path.join(folder, f"spool-{port}")
    proc = subprocess.Popen(
        [mta, "--fast", "--listen", f"127.0.0.1:{port}", "--spool", spool, *extra],
        stdout=subprocess.DEVNULL,
        stderr=open(os.path.join(folder, f"demo-{port}.log"), "wb"),
    )
    base = f"http://127.0.0.1:{port}"
    wait_for("the demo to answer /api/status", 60, lambda: http(base + "/api/status"))
    return proc, port, base


def inject(base, n):
    body = {
        "envelope_sender": "prometheus-check@kumo.test",
        "content": {
            "from": {"email": "prometheus-check@kumo.test"},
            "subject": "scraped by a real Prometheus",
            "text_body": "hello\n",
        },
        "recipients": [{"email": f"user{i}@gmail.test"} for i in range(n)],
    }
    http(
        base + "/api/inject/v1",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )


def samples(base, openmetrics):
    """The samples of one /metrics body, as the scraper would be served it."""
    if openmetrics:
        body = http(base + "/metrics", headers={"Accept": OPENMETRICS_ACCEPT})
        families = parse_openmetrics(body)
    else:
        body = http(base + "/metrics")
        families = parse_text(body)
    return [s for f in families for s in f.samples]


def query(prom, expr):
    q = urllib.parse.urlencode({"query": expr})
    out = json.loads(http(f"{prom}/api/v1/query?{q}"))
    return {r["metric"].get("job"): float(r["value"][1]) for r in out["data"]["result"]}


def names(prom, job):
    q = urllib.parse.urlencode({"match[]": f'{{job="{job}"}}', "start": time.time() - 600})
    out = json.loads(http(f"{prom}/api/v1/series?{q}"))
    return {s["__name__"] for s in out["data"]}


def main():
    prometheus, mta = sys.argv[1], sys.argv[2]
    folder = tempfile.mkdtemp(prefix="kumo-prometheus-")
    procs = []
    failures = []
    try:
        text_demo, text_port, text_base = start_demo(mta, folder, [])
        procs.append(text_demo)
        om_demo, om_port, om_base = start_demo(mta, folder, ["--metrics-openmetrics"])
        procs.append(om_demo)
        for base in (text_base, om_base):
            inject(base, 50)
            wait_for(
                "a delivery counted in /metrics",
                60,
                lambda base=base: "\ntotal_messages_delivered{" in http(base + "/metrics"),
            )

        prom_port = free_port()
        config = os.path.join(folder, "prometheus.yml")
        with open(config, "w") as f:
            f.write(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                "scrape_configs:\n"
                f"  - job_name: text\n    static_configs:\n      - targets: ['127.0.0.1:{text_port}']\n"
                f"  - job_name: openmetrics\n    static_configs:\n      - targets: ['127.0.0.1:{om_port}']\n"
            )
        procs.append(
            subprocess.Popen(
                [
                    prometheus,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={os.path.join(folder, 'data')}",
                    f"--web.listen-address=127.0.0.1:{prom_port}",
                ],
                stdout=subprocess.DEVNULL,
                stderr=open(os.path.join(folder, "prometheus.log"), "wb"),
            )
        )
        prom = f"http://127.0.0.1:{prom_port}"
        wait_for("Prometheus to be ready", 60, lambda: http(prom + "/-/ready"))

        def both_scraped():
            text, om = names(prom, "text"), names(prom, "openmetrics")
            if "total_messages_delivered" in text | om and len(query(prom, "up")) == 2:
                return text, om
            return None

        wait_for("Prometheus to store a scrape of each demo", 60, both_scraped)
        time.sleep(2.5)  # a few more scrapes
        text, om = names(prom, "text"), names(prom, "openmetrics")
        print(f"job text stores {len(text)} names, job openmetrics {len(om)}")
        checks = [
            ("text: total_messages_delivered stored", "total_messages_delivered" in text),
            ("text: no total_messages_delivered_total", "total_messages_delivered_total" not in text),
            ("openmetrics: total_messages_delivered_total stored", "total_messages_delivered_total" in om),
            ("openmetrics: no total_messages_delivered", "total_messages_delivered" not in om),
        ]
        up = query(prom, "up")
        checks.append((f"up is 1 for both jobs {up}", up == {"text": 1.0, "openmetrics": 1.0}))

        # The sample count of the last scrape against a body fetched around it: the demos are
        # idle now, so the two agree once no delivery or retry changes the series set.
        for job, base, om_format in (("text", text_base, False), ("openmetrics", om_base, True)):
            seen = []
            for _ in range(20):
                before = len(samples(base, om_format))
                scraped = query(prom, "scrape_samples_scraped").get(job)
                after = len(samples(base, om_format))
                seen.append((before, scraped, after))
                if before == after == scraped:
                    break
                time.sleep(1.1)
            ok = seen[-1][0] == seen[-1][1] == seen[-1][2]
            checks.append((f"{job}: scrape_samples_scraped = samples in /metrics {seen[-1]}", ok))

        for what, ok in checks:
            print(("ok      " if ok else "FAILED  ") + what)
            if not ok:
                failures.append(what)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
    if failures:
        print(f"logs in {folder}")
        sys.exit(1)
    print("prometheus names: all checks passed")


if __name__ == "__main__":
    main()
