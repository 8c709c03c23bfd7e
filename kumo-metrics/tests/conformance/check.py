"""Independent conformance check of kumo-metrics output with prometheus_client's parsers.

usage: check.py MODE OUTPUT EXPECTED
  MODE      text (prometheus_client.parser, format 0.0.4), openmetrics (the strict
            prometheus_client.openmetrics.parser) or json (Python's json, no NaN/Infinity)
  OUTPUT    the file kumo-metrics wrote
  EXPECTED  a JSON file: {"families": [{"name", "type", "help",
            "samples": [[sample_name, {label: value}, value]]}]}, where a value is a number or
            one of the strings "NaN", "+Inf", "-Inf"
Exits 0 when every family and sample matches exactly, in order; prints the difference otherwise.

Sample names are compared exactly; family names with a counter's `_total` suffix dropped (both of
prometheus_client's parsers name a counter family without it). In json mode the expected samples
are put in KumoMTA's shape (see kumo-metrics/src/json.rs) and compared with the document, values
included: a plain number for a family without labels, {label: {value: number}} for one label,
[{labels..., "@": number}] for several, null for no series and for non-finite numbers, and
{"count", "sum", "avg", "bucket": [[bound, cumulative]]} (no +Inf bucket) per histogram series.
"""
import json
import math
import sys


def norm_value(v):
    if isinstance(v, str):
        return {"NaN": "NaN", "+Inf": "+Inf", "-Inf": "-Inf"}[v]
    if isinstance(v, float):
        if math.isnan(v):
            return "NaN"
        if math.isinf(v):
            return "+Inf" if v > 0 else "-Inf"
        if v.is_integer() and abs(v) < 2**53:
            return int(v)
    return v


def strip_total(name, typ):
    if typ == "counter" and name.endswith("_total"):
        return name[: -len("_total")]
    return name


def family_view(name, typ, help_text, samples):
    return {
        "name": strip_total(name, typ),
        "type": typ,
        "help": help_text,
        "samples": [
            [s[0], dict(sorted(s[1].items())), norm_value(s[2])]
            for s in samples
        ],
    }


def json_number(v):
    """What KumoMTA's JSON holds for an expected value: non-finite numbers are null."""
    v = norm_value(v)
    return None if v in ("NaN", "+Inf", "-Inf") else v


def json_value(e):
    """The "value" of family `e` in KumoMTA's JSON shape, built from its expected samples."""
    samples = e["samples"]
    if not samples:
        return None
    entries = []  # (labels, value) per series, in order
    if e["type"] == "histogram":
        series = {}
        for name, labels, v in samples:
            base = {k: x for k, x in labels.items() if k != "le"}
            key = json.dumps(base, sort_keys=True)
            if key not in series:
                series[key] = {"count": None, "sum": None, "bucket": []}
                entries.append((base, series[key]))
            h = series[key]
            if name.endswith("_bucket"):
                if labels["le"] != "+Inf":
                    h["bucket"].append([float(labels["le"]), norm_value(v)])
            elif name.endswith("_sum"):
                h["sum"] = v
            elif name.endswith("_count"):
                h["count"] = v
            else:
                raise ValueError("unexpected histogram sample " + name)
        for _, h in entries:
            count, total = h["count"], h["sum"]
            h["avg"] = json_number(total / count) if count else None
            h["sum"] = json_number(total)
    else:
        entries = [(labels, json_number(v)) for _, labels, v in samples]
    keys = list(entries[0][0].keys())
    if not keys:
        if len(entries) != 1:
            raise ValueError("several series without labels in " + e["name"])
        return entries[0][1]
    if len(keys) == 1:
        return {keys[0]: {labels[keys[0]]: v for labels, v in entries}}
    return [dict(labels, **{"@": v}) for labels, v in entries]


def main():
    mode, output, expected_path = sys.argv[1:4]
    with open(output, encoding="utf-8") as f:
        text = f.read()
    with open(expected_path, encoding="utf-8") as f:
        expected = json.load(f)["families"]
    want = [family_view(e["name"], e["type"], e["help"], e["samples"]) for e in expected]

    if mode == "json":
        def no_constants(c):
            raise ValueError("non-finite number in JSON: " + c)

        doc = json.loads(text, parse_constant=no_constants)
        got_names = list(doc.keys())
        want_names = [e["name"] for e in expected]
        if got_names != want_names:
            print("json family names differ:", got_names, want_names)
            return 1
        samples = 0
        for e in expected:
            fam = doc[e["name"]]
            if fam.get("type") != e["type"] or fam.get("help", "") != e["help"]:
                print("json family differs:", e["name"], fam.get("type"), repr(fam.get("help")))
                return 1
            want_value = json_value(e)
            if fam.get("value") != want_value:
                print("json values differ in", e["name"], ":\n  got  ",
                      json.dumps(fam.get("value"), ensure_ascii=False),
                      "\n  want ", json.dumps(want_value, ensure_ascii=False))
                return 1
            samples += len(e["samples"])
        print("json ok:", len(got_names), "families,", samples, "samples, values compared")
        return 0

    if mode == "text":
        from prometheus_client.parser import text_string_to_metric_families
    elif mode == "openmetrics":
        from prometheus_client.openmetrics.parser import text_string_to_metric_families
    else:
        print("unknown mode", mode)
        return 2

    got = [
        family_view(f.name, f.type, f.documentation or "",
                    [(s.name, s.labels, s.value) for s in f.samples])
        for f in text_string_to_metric_families(text)
    ]
    if got != want:
        for g, w in zip(got, want):
            if g != w:
                print("family differs:\n  got  ", json.dumps(g, ensure_ascii=False),
                      "\n  want ", json.dumps(w, ensure_ascii=False))
                break
        else:
            print("family count differs:", len(got), len(want))
        return 1
    print(mode, "ok:", len(got), "families,", sum(len(f["samples"]) for f in got), "samples")
    return 0


if __name__ == "__main__":
    sys.exit(main())
