#!/usr/bin/env python3
"""Plots a soak run's samples (crispin-bench soak --series FILE.json).

usage: plot_soak.py SERIES.json OUT.png [TITLE]

Three panels over the minutes of the run: the server's anonymous and
file-backed resident memory (MiB), its open file descriptors, and the p99
latency of the commands of each interval (ms). Needs matplotlib
(pip install matplotlib).
"""

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    series_path, out = sys.argv[1], sys.argv[2]
    title = sys.argv[3] if len(sys.argv) > 3 else "Crispin soak"
    s = json.load(open(series_path))
    minutes = [x["minute"] for x in s]
    fig, (mem, fds, lat) = plt.subplots(3, 1, figsize=(7, 6.5), sharex=True)
    mem.plot(minutes, [x["rss_anon_mib"] for x in s], label="anonymous (RssAnon)")
    mem.plot(minutes, [x["rss_mapped_mib"] for x in s], label="mapped file (RssFile + RssShmem)")
    mem.set_ylabel("MiB")
    mem.set_ylim(bottom=0)
    mem.legend(loc="upper left", fontsize=8)
    fds.plot(minutes, [x["fds"] for x in s], color="tab:green")
    fds.set_ylabel("open fds")
    fds.set_ylim(bottom=0)
    lat.plot(minutes, [x["p99_ms"] for x in s], color="tab:red")
    lat.set_ylabel("p99 latency (ms)")
    lat.set_ylim(bottom=0)
    lat.set_xlabel("minutes")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=100)


if __name__ == "__main__":
    main()
