#!/usr/bin/env python3
"""Feeds the ML-monitoring topics: leads, prediction events (some duplicated) and conversions
that arrive later. Timestamps are "now", so the trailing 3-hour views see them.

    python3 generate.py --broker 127.0.0.1:9092 --leads 1000 --rate 200

Each lead is predicted by model m1; a lead converts with a probability that rises with its
score, so accuracy is neither 0 nor 1. `--seed` makes a run reproducible; `--leads 0` runs
until interrupted. Prints how many records it produced per topic at the end.
"""
import argparse
import datetime
import json
import random
import time

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--broker", default="127.0.0.1:9092")
    ap.add_argument("--leads", type=int, default=1000, help="0: forever")
    ap.add_argument("--rate", type=float, default=200.0, help="leads per second")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--conversion-delay", type=float, default=0.5, help="seconds until a conversion is sent")
    ap.add_argument("--model", default="m1")
    ap.add_argument("--first-id", type=int, default=1)
    ap.add_argument("--flip", action="store_true", help="a broken model: conversions go to low scores")
    ap.add_argument("--suffix", default="", help="appended to every topic name (tests use it)")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    admin = AdminClient({"bootstrap.servers": args.broker})
    existing = admin.list_topics(timeout=10).topics
    topics = {t: t + args.suffix for t in ("leads", "predictions", "conversions")}
    new = [NewTopic(t, num_partitions=1, replication_factor=1) for t in topics.values() if t not in existing]
    if new:
        for f in admin.create_topics(new).values():
            f.result()
    producer = Producer({"bootstrap.servers": args.broker, "linger.ms": 5})
    counts = {"leads": 0, "predictions": 0, "conversions": 0}

    def send(topic, record):
        producer.produce(topics[topic], json.dumps(record).encode())
        counts[topic] += 1
        producer.poll(0)

    pending = []  # (due time, conversion record)
    n = 0
    start = time.time()
    while args.leads == 0 or n < args.leads:
        n += 1
        lead_id = args.first_id + n - 1
        now = datetime.datetime.now(datetime.timezone.utc)
        send("leads", {"lead_id": lead_id, "referrer": rng.choice(["ads", "seo", "mail"]), "created_at": now.isoformat()})
        score = rng.random()
        prediction = {"lead_id": lead_id, "model": args.model, "score": round(score, 3), "predicted_at": now.isoformat()}
        send("predictions", prediction)
        if rng.random() < 0.1:
            send("predictions", prediction)  # a duplicated event
        p_convert = 0.2 + 0.6 * (1 - score if args.flip else score)
        if rng.random() < p_convert:
            due = time.time() + args.conversion_delay
            pending.append((due, {"lead_id": lead_id, "value": round(rng.uniform(10, 200), 2)}))
        while pending and pending[0][0] <= time.time():
            _, conv = pending.pop(0)
            conv["converted_at"] = datetime.datetime.now(datetime.timezone.utc).isoformat()
            send("conversions", conv)
        delay = start + n / args.rate - time.time()
        if delay > 0:
            time.sleep(delay)
    for due, conv in pending:
        time.sleep(max(0.0, due - time.time()))
        conv["converted_at"] = datetime.datetime.now(datetime.timezone.utc).isoformat()
        send("conversions", conv)
    producer.flush(30)
    print(json.dumps(counts))


if __name__ == "__main__":
    main()
