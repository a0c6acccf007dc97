#!/usr/bin/env python3
"""Turns crispin-bench JSON files into one table: Crispin beside Dovecot.

usage: report.py RAW_DIR META_JSON OUT_MD

RAW_DIR holds files named SERVER--NAME.json (SERVER: crispin, dovecot,
dovecot-stock; NAME e.g. mixed-p2). Figures of the same group and
operation from several passes are reduced to their median. Prints the
table and writes it as markdown to OUT_MD.
"""

import json
import os
import statistics
import sys

SERVERS = ["crispin", "dovecot", "dovecot-stock", "dovecot-fsync"]


def fmt(v):
    if v is None:
        return ""
    a = abs(v)
    if a >= 100:
        return f"{v:,.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def main():
    raw, meta_path, out = sys.argv[1:4]
    meta = json.load(open(meta_path))
    # (group, name) -> server -> list of metric dicts
    figures = {}
    order = []
    errors = []
    warnings = []
    files = sorted(os.listdir(raw))
    # Crispin's files first so that its order of rows wins.
    files.sort(key=lambda f: SERVERS.index(f.split("--")[0]) if f.split("--")[0] in SERVERS else 9)
    for f in files:
        if not f.endswith(".json") or "--" not in f:
            continue
        server, name = f[:-5].split("--", 1)
        try:
            r = json.load(open(os.path.join(raw, f)))
        except (OSError, ValueError) as e:
            errors.append(f"{server} {name}: unreadable result ({e})")
            continue
        if r.get("error"):
            errors.append(f"{server} {name}: {r['error']}")
        for w in r.get("warnings", []):
            warnings.append(f"{server} {name}: {w}")
        for m in r.get("metrics", []):
            key = (m["group"], m["name"])
            if key not in figures:
                figures[key] = {}
                order.append(key)
            figures[key].setdefault(server, []).append(m)

    def reduce(ms):
        if not ms:
            return None
        first = ms[0]
        red = {"unit": first["unit"], "better": first["better"], "n": len(ms)}
        for field in ["value", "p50_ms", "p99_ms", "mb_per_sec", "ops_per_sec", "hits", "expected_hits"]:
            red[field] = median([m.get(field) for m in ms])
        return red

    def cell(red):
        if red is None:
            return "-"
        extra = []
        if red["unit"] == "ms p50":
            text = f"p50 {fmt(red['value'])} ms"
            extra.append(f"p99 {fmt(red['p99_ms'])} ms")
        else:
            text = f"{fmt(red['value'])} {red['unit']}"
            if red.get("p50_ms") is not None:
                extra.append(f"p50 {fmt(red['p50_ms'])} / p99 {fmt(red['p99_ms'])} ms")
        if red.get("ops_per_sec") is not None:
            extra.append(f"{fmt(red['ops_per_sec'])} ops/s")
        if red.get("mb_per_sec") is not None:
            extra.append(f"{fmt(red['mb_per_sec'])} MB/s")
        if red.get("hits") is not None:
            extra.append(f"{red['hits']:.0f} hits")
        if extra:
            text += " (" + ", ".join(extra) + ")"
        return text

    def ratio(a, b):
        if a is None or b is None or not b["value"]:
            return "", ""
        r = a["value"] / b["value"]
        if a["better"] == "higher":
            verdict = "Crispin" if r > 1.05 else "Dovecot" if r < 1 / 1.05 else "even"
        else:
            verdict = "Crispin" if r < 1 / 1.05 else "Dovecot" if r > 1.05 else "even"
        return f"{r:.2f}", verdict

    header = [
        "scenario",
        "operation",
        "better",
        "Crispin",
        "Dovecot",
        "Crispin/Dovecot",
        "ahead",
        "Dovecot stock login",
        "Crispin/stock",
        "Dovecot mail_fsync=always",
        "Crispin/fsync",
    ]
    rows = []
    for key in order:
        group, name = key
        per = {s: reduce(figures[key].get(s, [])) for s in SERVERS}
        c, d, ds, df = per["crispin"], per["dovecot"], per["dovecot-stock"], per["dovecot-fsync"]
        some = c or d or ds or df
        r, verdict = ratio(c, d)
        rs, _ = ratio(c, ds)
        rf, _ = ratio(c, df)
        rows.append(
            [
                group,
                name,
                f"{some['better']} {'↑' if some['better'] == 'higher' else '↓'}",
                cell(c),
                cell(d),
                r,
                verdict,
                cell(ds) if ds else "",
                rs,
                cell(df) if df else "",
                rf,
            ]
        )
        if c and d and c.get("hits") is not None and d.get("hits") is not None:
            if c["hits"] != d["hits"]:
                warnings.append(
                    f"{group} {name}: Crispin found {c['hits']:.0f}, Dovecot {d['hits']:.0f} "
                    f"(the corpus has {c.get('expected_hits') or 0:.0f})"
                )

    # Plain text on stdout.
    widths = [max(len(str(row[i])) for row in rows + [header]) for i in range(len(header))]
    line = "  ".join(h.ljust(widths[i]) for i, h in enumerate(header))
    print(line)
    print("-" * len(line))
    for row in rows:
        print("  ".join(str(v).ljust(widths[i]) for i, v in enumerate(row)))
    for w in warnings:
        print(f"WARNING: {w}")
    for e in errors:
        print(f"ERROR: {e}")

    # Markdown.
    md = []
    md.append("# Crispin vs Dovecot\n")
    md.append(
        f"{meta['date']} · {meta['cores']} cores ({meta['cpu']}) · Dovecot {meta['dovecot']} · "
        f"{meta['messages']} messages in the big mailbox · {meta['idlers']} idlers · "
        f"{meta['passes']} pass(es), medians · mixed {meta['duration']} s per client count and mode "
        f"(clients {meta['mix_clients']}, {meta['mix_messages']} messages per user) · "
        f"ingest {meta['ingest_duration']} s · corpus loaded by {meta['load_via']} · seed {meta['seed']} · "
        f"argon2id {meta['argon2']} in both servers (the same hashes)\n"
    )
    md.append(
        "Both servers on loopback, plaintext, fsync on (Crispin: its durability rule; Dovecot: "
        "`mail_fsync = optimized`, Maildir). Dovecot runs in its high-performance login mode "
        "(`service_count = 0`, `process_min_avail` = cores); the last columns are Dovecot's stock "
        "login mode (a process per login), then Dovecot with `mail_fsync = always` (fsync as "
        "Crispin does) on `stress`. `stress` is Dovecot imaptest's default profile; its accounts "
        "have Crispin's default argon2id cost (m=19456, t=2) in both servers. *better*: which direction of the figure is better; "
        "*ahead*: who is ahead by more than 5 %. The machine is shared and noisy: read ratios, "
        "not digits.\n"
    )
    fallbacks = meta.get("dovecot_inotify_fallbacks") or 0
    if fallbacks:
        note = (
            f"Note: {fallbacks} times a Dovecot imap process could not get an inotify instance "
            f"(fs.inotify.max_user_instances = {meta.get('inotify_max_user_instances')}, or a lower "
            "limit of an enclosing user namespace) and fell back to checking the mailbox every "
            "30 s while idling: Dovecot's idle latencies above are then mostly that interval."
        )
        md.append(note + "\n")
        print(note)
    md.append("| " + " | ".join(header) + " |")
    md.append("|" + "|".join("---" for _ in header) + "|")
    for row in rows:
        md.append("| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |")
    if warnings or errors:
        md.append("")
        for w in warnings:
            md.append(f"- WARNING: {w}")
        for e in errors:
            md.append(f"- ERROR: {e}")
    md.append("")
    with open(out, "w") as f:
        f.write("\n".join(md))


if __name__ == "__main__":
    main()
