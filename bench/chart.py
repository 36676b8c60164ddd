"""The bench's chart: for each operation at the largest size run, the raw floor's time beside the
product's, one bar per configuration (workers W, ranges K), as a plain SVG (no plotting
library to install)."""

from html import escape

BAR = 16
GAP = 6
LEFT = 190
WIDTH = 760
COLOURS = ["#4C78A8", "#F58518", "#54A24B", "#B279A2", "#E45756", "#72B7B2"]
RAW_COLOUR = "#9D9D9D"


def draw(report: dict) -> str:
    runs = report["runs"]
    size = max(r["tasks"] for r in runs)
    runs = [r for r in runs if r["tasks"] == size]
    configs = sorted({(r.get("workers", 1), r.get("ranges", 1)) for r in runs})
    ops = list(dict.fromkeys(r["op"] for r in runs))
    longest = max(max(r["workflow_s"], r["raw_s"]) for r in runs)
    scale = (WIDTH - LEFT - 90) / longest
    rows: list[str] = []
    y = 50

    def bar(label: str, seconds: float, colour: str, note: str = "") -> None:
        nonlocal y
        width = max(1.0, seconds * scale)
        rows.append(
            f'<text x="{LEFT - 8}" y="{y + BAR - 4}" text-anchor="end">{escape(label)}</text>'
            f'<rect x="{LEFT}" y="{y}" width="{width:.1f}" height="{BAR}" fill="{colour}"/>'
            f'<text x="{LEFT + width + 6:.1f}" y="{y + BAR - 4}">{seconds:.1f} s{note}</text>'
        )
        y += BAR + 2

    for op in ops:
        of_op = [r for r in runs if r["op"] == op]
        raw = min(r["raw_s"] for r in of_op)
        bar(f"{op}: raw floor", raw, RAW_COLOUR)
        for run in sorted(of_op, key=lambda r: (r.get("workers", 1), r.get("ranges", 1))):
            config = (run.get("workers", 1), run.get("ranges", 1))
            colour = COLOURS[configs.index(config) % len(COLOURS)]
            bar(f"W={config[0]} K={config[1]}", run["workflow_s"], colour, f"  x{run['ratio']}")
        y += GAP * 2
    title = (
        f"Product (gRPC request to answer) against the raw floor, {size:,} tasks"
        f" ({size // 10:,} results); {escape(report.get('machine', ''))}"
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{y + 10}"'
        ' font-family="sans-serif" font-size="12">'
        f'<rect width="100%" height="100%" fill="white"/>'
        f'<text x="10" y="24" font-size="13" font-weight="bold">{title}</text>'
        + "".join(rows)
        + "</svg>\n"
    )
