"""The benchmark's Markdown reports (the JSON beside each holds every figure): a single run
(`markdown`) and the relay's targets judged on paired runs against the floor
(`targets_markdown`)."""

from typing import Any

from bench import targets as relay_targets

KAIWA_GROUPS = ("daphne", "upstream", "load", "database", "redis", "other", "interrupts", "steal")
ZERO_LOSS_N = 500


def _ms(seconds: float | None, signed: bool = False) -> str:
    if seconds is None:
        return "–"
    value = seconds * 1000
    return f"{value:+.1f}" if signed else f"{value:.1f}"


def _f(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _errors_cell(level: dict) -> str:
    k = level["kaiwa"]
    stored = level["stored"]
    bad_store = stored["replies_not_equal_to_stream"]
    return (
        f"{k['errors']} / {k['lost_tokens']}"
        + (f" ({k['mismatched_replies']} replies differ)" if k["mismatched_replies"] else "")
        + (
            f"; {k['clients_with_events_after_done']} got events after done"
            if k.get("clients_with_events_after_done")
            else ""
        )
        + (f"; {bad_store} stored replies differ" if bad_store else "")
    )


def _total_cell(level: dict, digits: int) -> str:
    k = level["kaiwa"]
    cell = _f(level["added"]["total_ratio"], digits)
    finished = k.get("finished", k["clients"])
    if finished < k["clients"]:
        cell += f" ({finished}/{k['clients']} finished)"
    return cell


def _writes_cell(db: dict) -> str:
    if db["statements_mean"] is None:
        return "–"
    return (
        f"{db['statements_mean']:.1f} stmts · {db['transactions_mean']:.1f} txns "
        f"(≤ {db['budget_mean']:.1f})"
    )


def contended(level: dict, result: dict) -> bool:
    """Other work on the machine used more than the quiet threshold during a measurement."""
    limit = max(0.3, result["settings"].get("quiet_cores", 0.3))
    cpu = level["cpu"]
    return max(cpu["other_cores_during_kaiwa"], cpu["other_cores_during_direct"]) > limit


def summary_rows(result: dict) -> list[list[str]]:
    rows = []
    for config in result["configs"]:
        for level in config["levels"]:
            added = level["added"]
            rows.append(
                [
                    config["label"],
                    str(level["n"]) + (" †" if contended(level, result) else ""),
                    f"{_ms(added['added_ttft_p50'], True)} / {_ms(added['added_ttft_p99'], True)}",
                    _ms(added["added_gap_p99"], True),
                    _total_cell(level, 3),
                    _f(level["cpu"]["daphne_per_1000_tokens"], 3),
                    " + ".join(f"{m:.0f}" for m in level["memory"]["peak_rss_mib"]),
                    _writes_cell(level["db"]),
                    _errors_cell(level),
                ]
            )
    return rows


SUMMARY_HEADER = [
    "configuration",
    "N",
    "added TTFT p50 / p99 (ms)",
    "added gap p99 (ms)",
    "total time ×",
    "CPU s / 1k tokens",
    "peak RSS (MiB)",
    "DB writes / turn (budget 3 + 1/s)",
    "errors / lost tokens",
]


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


ROUTES = {
    "ws": "as WebSocket turns through Kaiwa (API.md section 5)",
    "v1": (
        "as streamed `POST /v1/chat/completions` calls through Kaiwa's OpenAI-compatible "
        "route (API.md section 7, one API token per client), read by the same SSE client "
        "as the direct baseline"
    ),
}


def route(result: dict) -> str:
    """The route the Kaiwa clients used; results from before the choice existed were WebSocket."""
    return result["settings"].get("route", "ws")


def route_line(result: dict) -> str:
    name = route(result)
    return f"Route measured: `{name}` — {ROUTES[name]}."


def targets(result: dict) -> list[dict[str, Any]]:
    out = []
    for config in result["configs"]:
        if config.get("floor"):
            continue  # the targets are Kaiwa's; the floor is the stack without it
        by_n = {level["n"]: level for level in config["levels"]}
        over_s = sum(lv["db"]["turns_over_budget_statements"] for lv in config["levels"])
        over_t = sum(lv["db"]["turns_over_budget_transactions"] for lv in config["levels"])
        turns = sum(lv["db"]["turns_logged"] for lv in config["levels"])
        # The /v1 route logs no per-turn writes: no figures to judge (not "0 over").
        if route(result) == "ws":
            out.append(
                {
                    "target": "DB writes per turn ≤ 3 + 1 per second of streaming",
                    "configuration": config["label"],
                    "value": (
                        f"statements: {over_s}/{turns} turns over; "
                        f"transactions: {over_t}/{turns} turns over"
                    ),
                    "met": over_t == 0,
                    "note": "met counting write transactions; "
                    + ("met" if over_s == 0 else "not met")
                    + " counting write statements",
                }
            )
        if ZERO_LOSS_N in by_n:
            level = by_n[ZERO_LOSS_N]
            k = level["kaiwa"]
            stored = level["stored"]
            bad = (
                k["errors"]
                + k["lost_tokens"]
                + k["duplicated_tokens"]
                + k["mismatched_replies"]
                + stored["replies_not_equal_to_stream"]
                + level["db"]["server_error_lines"]
            )
            out.append(
                {
                    "target": f"zero errors and zero lost tokens at N={ZERO_LOSS_N}",
                    "configuration": config["label"],
                    "value": (
                        f"{k['errors']} errors, {k['lost_tokens']} lost, "
                        f"{k['duplicated_tokens']} duplicated, "
                        f"{k['mismatched_replies']} replies differ, "
                        f"{stored['replies_not_equal_to_stream']} stored replies differ, "
                        f"{level['db']['server_error_lines']} server error lines"
                    ),
                    "met": bad == 0,
                }
            )
    return out


def _detail(config: dict) -> str:
    levels = config["levels"]
    header = ["", *(f"N={lv['n']}" for lv in levels)]

    def row(name, fn):
        return [name, *(fn(lv) for lv in levels)]

    def pair(a, b, fmt=_ms):
        return f"{fmt(a)} / {fmt(b)}"

    def cpu_used(window: dict, keys) -> str:
        return " · ".join(f"{k} {window.get(k, 0):.2f}" for k in keys)

    rows = [
        row(
            "TTFT p50 / p99, direct (ms)",
            lambda lv: pair(lv["direct"]["ttft_p50"], lv["direct"]["ttft_p99"]),
        ),
        row(
            "TTFT p50 / p99, Kaiwa (ms)",
            lambda lv: pair(lv["kaiwa"]["ttft_p50"], lv["kaiwa"]["ttft_p99"]),
        ),
        row(
            "Kaiwa TTFT phases p50 / p99 (ms): send → user_message → start → first delta",
            lambda lv: " → ".join(
                pair(ph["p50"], ph["p99"]) for ph in lv["kaiwa"]["ttft_phases"].values()
            ),
        ),
        row(
            "TTFT max, direct / Kaiwa (ms)",
            lambda lv: pair(lv["direct"]["ttft_max"], lv["kaiwa"]["ttft_max"]),
        ),
        row(
            "gap p50 / p99, direct (ms)",
            lambda lv: pair(lv["direct"]["gap_p50"], lv["direct"]["gap_p99"]),
        ),
        row(
            "gap p50 / p99, Kaiwa (ms)",
            lambda lv: pair(lv["kaiwa"]["gap_p50"], lv["kaiwa"]["gap_p99"]),
        ),
        row(
            "total mean, direct / Kaiwa (s)",
            lambda lv: pair(
                lv["direct"]["total_mean"], lv["kaiwa"]["total_mean"], lambda v: _f(v, 3)
            ),
        ),
        row(
            "delta frames per reply, Kaiwa", lambda lv: _f(lv["kaiwa"]["frames_per_reply_mean"], 1)
        ),
        row(
            "CPU s in Kaiwa window",
            lambda lv: (
                cpu_used(
                    lv["cpu"]["during_kaiwa"],
                    (
                        "daphne",
                        "upstream",
                        "load",
                        "database",
                        "redis",
                        "other",
                        "interrupts",
                        "steal",
                    ),
                )
                + f" (wall {lv['cpu']['kaiwa_window_seconds']:.1f} s)"
            ),
        ),
        row(
            "CPU s in direct window",
            lambda lv: (
                cpu_used(
                    lv["cpu"]["during_direct"], ("upstream", "load", "other", "interrupts", "steal")
                )
                + f" (wall {lv['cpu']['direct_window_seconds']:.1f} s)"
            ),
        ),
        row(
            "machine busy before direct / Kaiwa (cores)",
            lambda lv: pair(
                lv["cpu"]["busy_cores_before_direct"],
                lv["cpu"]["busy_cores_before_kaiwa"],
                lambda v: _f(v, 2),
            ),
        ),
        row(
            "RSS idle → peak (MiB)",
            lambda lv: (
                " + ".join(
                    f"{a:.0f} → {b:.0f}"
                    for a, b in zip(
                        lv["memory"]["idle_rss_mib"], lv["memory"]["peak_rss_mib"], strict=True
                    )
                )
                + f" ({lv['memory']['per_turn_kib']:.0f} KiB/turn)"
            ),
        ),
        row(
            "flushes per turn, mean (max); streaming s",
            lambda lv: (
                f"{_f(lv['db']['flushes_mean'])} ({_f(lv['db']['flushes_max'], 0)}); "
                f"{_f(lv['db']['streaming_seconds_mean'])}"
            ),
        ),
        row(
            "PostgreSQL rows written per turn",
            lambda lv: (
                f"{lv['db']['pg_rows_per_turn']:.2f}"
                + ("" if lv["db"]["pg_matches_log"] else " (≠ log)")
                if lv["db"].get("pg_rows_per_turn") is not None
                else "–"
            ),
        ),
        row(
            "stored replies",
            lambda lv: (
                "none (the floor stores nothing)"
                if config.get("floor")
                else ", ".join(f"{k} {v}" for k, v in lv["stored"]["reply_statuses"].items())
                + f"; {lv['stored']['replies_not_equal_to_stream']} differ"
            ),
        ),
        row(
            "client errors",
            lambda lv: (
                ", ".join(f"{k} {v}" for k, v in lv["kaiwa"]["errors_by_kind"].items()) or "0"
            ),
        ),
        row("server error log lines", lambda lv: str(lv["db"]["server_error_lines"])),
    ]
    return _table(header, rows)


def _code_line(code: dict) -> str:
    if not code:
        return ""
    changed = code.get("uncommitted_files") or []
    return f"Code: commit {code.get('commit') or '?'}" + (
        f", **dirty tree**: uncommitted changes in {len(changed)} file(s) "
        f"({', '.join(changed[:6])}" + (", …" if len(changed) > 6 else "") + ")."
        if changed
        else ", clean working tree."
    )


def _machine_line(m: dict) -> str:
    system = f"{m['os']}, " if m.get("os") else ""
    return (
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB RAM, {system}"
        f"Linux {m['kernel']}, Python {m['python']}, PostgreSQL {m['postgresql'] or '–'}, "
        f"Redis {m['redis'] or '–'}; load average at start {' '.join(m['load_average_at_start'])}."
    )


def _header(title: str, result: dict) -> list[str]:
    """The lines every report opens with: title, when it ran, the machine and the code."""
    label = result["settings"].get("label")
    return [
        title,
        "",
        f"Run {result['started']} – {result['finished']}" + (f" ({label})" if label else ""),
        "",
        _machine_line(result["machine"]),
        "",
        _code_line(result.get("code") or {}),
        "",
    ]


def markdown(result: dict) -> str:
    s = result["settings"]
    stream_s = s["tokens"] * s["interval_ms"] / 1000
    lines = [
        *_header("# Kaiwa relay benchmark", result),
        route_line(result),
        "",
        f"Workload: each reply is {s['tokens']} tokens at {s['interval_ms']:g} ms intervals "
        f"({stream_s:g} s of streaming); N clients start over {s['ramp_ms']:g} ms "
        f"(client i at i × {s['ramp_ms']:g}/N ms), first directly from the fake upstream "
        f"(baseline), then {ROUTES[route(result)]}, with the same start times. "
        f"Client processes: {s['load_procs']}. The upstream, the clients, the database and "
        "Redis share the same cores as Kaiwa (CPU per group below; 'other' is other "
        "processes on the machine, 'interrupts' mostly loopback networking, 'steal' time the "
        "hypervisor gave to other guests).",
        "",
        "TTFT is measured from the client's send to the first text delta; gaps are between "
        "consecutive delta frames of one reply; total time is from send to `done` (over SSE: "
        "`[DONE]`). Added = Kaiwa minus direct, at the same percentile. CPU is the daphne "
        "processes' user+system time over the Kaiwa window per 1,000 tokens delivered.",
        "",
        "## Summary",
        "",
        _table(SUMMARY_HEADER, summary_rows(result)),
        "",
        "† Other work on the machine used more than "
        f"{max(0.3, s.get('quiet_cores', 0.3)):g} cores during this measurement "
        "(see 'other' in the details): its figures are disturbed.",
        "",
        "DB writes: statements = INSERT/UPDATE of messages and conversations (start: user "
        "message, pending reply, conversation busy; each partial flush; finish: reply, "
        "conversation); txns = write transactions (start, each flush, finish). Budget = 3 + "
        "one per started second of the turn.",
        "",
        "## Targets",
        "",
        "Latency and CPU targets are judged against the floor on paired runs: "
        "`python -m bench --targets`.",
        "",
        _table(
            ["target", "configuration", "value", "met"],
            [
                [t["target"], t["configuration"], t["value"], ("yes" if t["met"] else "**no**")]
                + []
                for t in targets(result)
            ],
        ),
        "",
    ]
    if result.get("failures"):
        lines += ["## Failed configurations", ""]
        lines += [f"- {f}" for f in result["failures"]]
        lines += [""]
    for config in result["configs"]:
        lines += [
            f"## {config['label']}",
            "",
            (
                "Server environment: "
                + ", ".join(f"`{k}={v}`" for k, v in config["server_env"].items())
                + "\n"
                if config["server_env"]
                else ""
            ),
            _detail(config),
            "",
        ]
    return "\n".join(lines)


# --- the relay's targets, on paired runs against the floor ------------------------------


def _figure(metric: str, value: float | None) -> str:
    """A target's figure with its unit: TTFT in signed ms, CPU in ms per token."""
    if value is None:
        return "–"
    if metric == "cpu_ms_per_token":
        return f"{value:.3f} ms"
    return f"{value * 1000:+.1f} ms"


def _met(met: bool | None) -> str:
    return "not measured" if met is None else ("yes" if met else "**no**")


def _verdict_rows(result: dict) -> list[list[str]]:
    rows = []
    for v in result["verdicts"]:
        pairs = str(v["pairs"])
        if v["contended_pairs"]:
            pairs += f" ({v['contended_pairs']} †)"
        rows.append(
            [
                v["target"],
                str(v["n"]),
                _figure(v["metric"], v["kaiwa"]),
                _figure(v["metric"], v["floor"]),
                "≤ " + _figure(v["metric"], v["bound"]).lstrip("+"),
                _f(v["ratio"]),
                pairs,
                _met(v["met"]),
            ]
        )
    for level in result["summary"]:
        problems = level["problems"]
        rows.append(
            [
                "no errors, lost tokens or differing replies, in every run",
                str(level["n"]),
                str(problems["kaiwa"]),
                str(problems["floor"]),
                "0",
                "–",
                f"{level['pairs']} of {level['pairs_attempted']}",
                _met(not any(problems.values()) and level["pairs"] == level["pairs_attempted"]),
            ]
        )
    return rows


def _side_cell(level: dict | None, metric: str, result: dict) -> str:
    if level is None:
        return "failed"
    cell = _figure(metric, relay_targets.METRICS[metric](level))
    return cell + (" †" if contended(level, result) else "")


def _pair_rows(result: dict) -> list[list[str]]:
    rows = []
    for record in result["pairs"]:
        k, fl = record.get("kaiwa"), record.get("floor")
        row = [str(record["n"]), str(record["pair"]), record["first"]]
        for metric in relay_targets.METRICS:
            row.append(f"{_side_cell(k, metric, result)} / {_side_cell(fl, metric, result)}")
        row.append(
            " / ".join(
                "–" if lv is None else str(relay_targets.level_problems(lv)) for lv in (k, fl)
            )
        )
        rows.append(row)
    return rows


def _median_rows(result: dict) -> list[list[str]]:
    rows = []
    for level in result["summary"]:
        med = level["median"]
        rows.append(
            [str(level["n"]), str(level["pairs"])]
            + [
                f"{_figure(m, med['kaiwa'][m])} / {_figure(m, med['floor'][m])}"
                for m in relay_targets.METRICS
            ]
        )
    return rows


METRIC_HEADERS = ["added TTFT p50", "added TTFT p99", "CPU per token"]


def targets_markdown(result: dict) -> str:
    """The report of `python -m bench --targets`: verdicts, medians and every pair."""
    s = result["settings"]
    stream_s = s["tokens"] * s["interval_ms"] / 1000
    kaiwa_label = next((c["label"] for c in result["configs"] if not c.get("floor")), "Kaiwa")
    lines = [
        *_header("# Kaiwa against the floor: the relay's targets", result),
        f"Method: at each N ({', '.join(map(str, s['n']))}), {s['pairs']} pair(s) of runs, "
        "Kaiwa and the floor (`bench/floor.py`: the same daphne, Channels and SDK with none "
        "of Kaiwa's work) alternating: pair 1 measures Kaiwa first, pair 2 the floor first, "
        f"and so on. Configuration: {kaiwa_label}. Each reply is {s['tokens']} tokens at "
        f"{s['interval_ms']:g} ms intervals ({stream_s:g} s of streaming); N clients start "
        f"over {s['ramp_ms']:g} ms. Added TTFT is the run's TTFT minus that of reading the "
        "same streams directly from the upstream in the same run, at the same percentile; "
        "CPU per token is the daphne process's user + system CPU over the load per token "
        "relayed. Each target compares the medians over the complete pairs.",
        "",
        "## Targets",
        "",
        _table(
            [
                "target",
                "N",
                "Kaiwa (median)",
                "floor (median)",
                "Kaiwa must be",
                "Kaiwa ÷ floor",
                "pairs",
                "met",
            ],
            _verdict_rows(result),
        ),
        "",
        "† Other work on the machine used more than "
        f"{max(0.3, s.get('quiet_cores', 0.3)):g} cores during a measurement of the pair: "
        "read its figures with care.",
        "",
        "## Medians, Kaiwa / floor",
        "",
        _table(["N", "pairs", *METRIC_HEADERS], _median_rows(result)),
        "",
        "## Every pair, Kaiwa / floor",
        "",
        _table(
            ["N", "pair", "first", *METRIC_HEADERS, "errors, lost tokens, differing replies"],
            _pair_rows(result),
        ),
        "",
    ]
    if result.get("failures"):
        lines += ["## Failed measurements", ""]
        lines += [f"- {f}" for f in result["failures"]]
        lines += [""]
    return "\n".join(lines)


def readme_table(result: dict) -> str:
    """The compact table docs/benchmark.md quotes: Kaiwa as a ratio of reading directly."""
    header = [
        "configuration",
        "N",
        "TTFT p50 / p99, direct → Kaiwa (ms)",
        "TTFT p99 ×",
        "gap p99 ×",
        "total time ×",
        "CPU ms / token",
        "peak RSS (MiB)",
        "DB writes / turn: stmts · txns (budget)",
        "errors / lost tokens",
    ]
    rows = []
    for config in result["configs"]:
        for lv in config["levels"]:
            d, k = lv["direct"], lv["kaiwa"]

            def ratio(key, d=d, k=k):
                return f"{k[key] / d[key]:.1f}" if k[key] and d[key] else "–"

            db = lv["db"]
            rows.append(
                [
                    config["label"],
                    str(lv["n"]) + (" †" if contended(lv, result) else ""),
                    f"{_ms(d['ttft_p50'])} / {_ms(d['ttft_p99'])} → "
                    f"{_ms(k['ttft_p50'])} / {_ms(k['ttft_p99'])}",
                    ratio("ttft_p99"),
                    ratio("gap_p99"),
                    _total_cell(lv, 2),
                    _f(lv["cpu"]["daphne_per_1000_tokens"], 2),
                    " + ".join(f"{m:.0f}" for m in lv["memory"]["peak_rss_mib"]),
                    f"{_f(db['statements_mean'], 1)} · {_f(db['transactions_mean'], 1)}"
                    f" (≤ {_f(db['budget_mean'], 1)})",
                    _errors_cell(lv),
                ]
            )
    return _table(header, rows)


def main(argv: list[str] | None = None) -> None:
    import argparse
    import json

    parser = argparse.ArgumentParser(description="Re-render a benchmark result (JSON).")
    parser.add_argument("result", help="e.g. bench/results/latest.json")
    parser.add_argument(
        "--readme", action="store_true", help="a single run's compact table (no effect on targets)"
    )
    args = parser.parse_args(argv)
    with open(args.result, encoding="utf-8") as f:
        result = json.load(f)
    if "verdicts" in result:
        print(targets_markdown(result))
    else:
        print(readme_table(result) if args.readme else markdown(result))


if __name__ == "__main__":
    main()
