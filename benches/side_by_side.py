"""What the Python comparison scripts share: running `ipc-bench SUBCOMMAND --json` for our
figures, and printing Python's and ours side by side with the ratio and the target."""
import json
import statistics
import subprocess


def ours(binary, subcommand, key, fields):
    """One round of `ipc-bench SUBCOMMAND --json --repeat 1`: {name: record[fields[name]]},
    records found by their `key` field."""
    text = subprocess.run([binary, subcommand, "--json", "--repeat", "1"], check=True,
                          capture_output=True, text=True).stdout
    records = {r[key]: r for r in json.loads(text)}
    return {name: records[name][field] for name, field in fields.items()}


def print_table(title, rows, py, rs):
    """Rows of (name, unit, "smaller" or "larger" is better, ratio needed, target text);
    `py` and `rs` map each name to its list of measurements."""
    width = max(len(r[0]) for r in rows)
    print(title + "\n")
    print(f"  {'what':<{width}} {'unit':<27} {'python':>11} {'multiproc':>11} {'ratio':>7}  target")
    for name, unit, better, need, text in rows:
        p, r = statistics.median(py[name]), statistics.median(rs[name])
        ratio = p / r if better == "smaller" else r / p
        ok = "met" if ratio >= need else "MISSED"
        spread = f"[{min(rs[name]):.4g}..{max(rs[name]):.4g}]"
        print(f"  {name:<{width}} {unit:<27} {p:>11.4g} {r:>11.4g} {ratio:>6.1f}x  "
              f"{text}: {ok}  ours {spread}")
