#!/usr/bin/env python3
"""Plots a benchmark's CSV as a PNG for docs/ (matplotlib; `pip install matplotlib`).

Usage: benches/plot.py nexmark|recompute|freshness|sqlite_corpus CSV PNG
The CSV is what the benchmark binary wrote with --csv.
"""
import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def nexmark(rows, out):
    names = [r["query"] for r in rows]
    rates = [float(r["events_per_s"]) for r in rows]
    colors = ["#999999" if n == "ingest" else "#3572a5" for n in names]
    fig, ax = plt.subplots(figsize=(10, 4.5))
    ax.bar(names, rates, color=colors)
    ax.set_ylabel("events/s (one worker, incl. durable COPY)")
    ax.set_title("Nexmark on Riffle: events/s until the view has caught up (grey: ingest alone)")
    ax.set_yscale("log")
    for i, r in enumerate(rates):
        ax.text(i, r * 1.05, f"{r / 1000:.0f}k", ha="center", fontsize=7)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def recompute(rows, out):
    fig, ax = plt.subplots(figsize=(8, 4.5))
    systems = []
    for r in rows:
        if r["system"] not in systems:
            systems.append(r["system"])
    for system in systems:
        pts = [r for r in rows if r["system"] == system]
        xs = [int(r["rows"]) for r in pts]
        ys = [float(r["load_ms"]) + float(r["answer_ms"]) for r in pts]
        ax.plot(xs, ys, marker="o", label=system)
    ax.set_xlabel("rows in orders")
    ax.set_ylabel("ms from batch to fresh answer (load + answer)")
    ax.set_yscale("log")
    ax.set_title("Recompute vs. incremental: fresh answers as data grows")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def rates(rows, out, title, ylabel_latency):
    """Latency percentiles vs. input rate (freshness)."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    xs = [float(r["rate"]) for r in rows]
    for col in ("p50_ms", "p99_ms", "p999_ms"):
        ax.plot(xs, [float(r[col]) for r in rows], marker="o", label=col.replace("_ms", "") + " from scheduled send")
    # Newer CSVs also carry the latency from each statement's acknowledgement.
    for col in ("after_ack_p50_ms", "after_ack_p99_ms", "after_ack_p999_ms"):
        if rows and col in rows[0]:
            label = col.replace("after_ack_", "").replace("_ms", "") + " after ack"
            ax.plot(xs, [float(r[col]) for r in rows], marker="s", linestyle="--", label=label)
    ax.axhline(10, color="#cc3333", linewidth=0.8, linestyle=":", label="10 ms goal")
    ax.set_yscale("log")
    ax.set_xlabel("input rows/s")
    ax.set_ylabel(ylabel_latency)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def freshness(rows, out):
    rates(rows, out, "Freshness: INSERT to SUBSCRIBE client", "ms to arrival at the subscriber")


def sqlite_corpus(rows, out):
    files = []
    for r in rows:
        if r["file"] not in files:
            files.append(r["file"])
    systems = ["riffle", "postgresql"]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    width = 0.38
    for k, system in enumerate(systems):
        totals = [next((float(r["total_s"]) for r in rows if r["file"] == f and r["system"] == system), 0) for f in files]
        xs = [i + (k - 0.5) * width for i in range(len(files))]
        ax.bar(xs, totals, width, label=system)
        for x, t in zip(xs, totals):
            ax.text(x, t * 1.05, f"{t:.1f}", ha="center", fontsize=7)
    ax.set_xticks(range(len(files)))
    ax.set_xticklabels(files)
    ax.set_ylabel("seconds for every query of the file, one after another")
    ax.set_title("SQLite sqllogictest select1-5, ad hoc (select5: joins of 4-64 tables)")
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def main():
    kind, path, out = sys.argv[1:4]
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    {"nexmark": nexmark, "recompute": recompute, "freshness": freshness, "sqlite_corpus": sqlite_corpus}[kind](rows, out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
