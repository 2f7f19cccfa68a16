"""What `dlcourse.run(...)` and a notebook's last cell give back: a finished run's summary that
shows itself as a table of targets and controls (and, in Jupyter, with the run's figures)."""

from __future__ import annotations

import base64
import html
from pathlib import Path

from dlcourse import targets


class LessonResult(dict):
    """summary.json as a dict: `r["metrics"]`, `r["passed"]`, `r["dir"]`, ..."""

    def rows(self) -> list[tuple[str, str, str, str]]:
        out = [("target", targets.describe_target(t), _num(t["achieved"]), "pass" if t["passed"] else "FAIL")
               for t in self.get("targets", [])]
        out += [("control", targets.describe_control(c), _num(c["achieved"]), "pass" if c["passed"] else "FAIL")
                for c in self.get("controls", [])]
        return out

    def __repr__(self) -> str:
        lines = [f"{self.get('experiment')} ({self.get('profile')}): {self.get('status')}, "
                 f"{self.get('seconds', 0):.1f} s, {self.get('dir', '')}"]
        lines += [f"  {kind:8s} {check:40s} {value:>10s}  {verdict}" for kind, check, value, verdict in self.rows()]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        verdict = "all targets met" if self.get("passed") else "some targets missed"
        rows = "".join(f"<tr><td>{k}</td><td><code>{html.escape(c)}</code></td><td>{v}</td>"
                       f"<td style='color:{'#127a2e' if r == 'pass' else '#b3261e'}'><b>{r}</b></td></tr>"
                       for k, c, v, r in self.rows())
        figures = ""
        if self.get("dir"):
            for png in sorted(Path(self["dir"]).glob("figures/*.png")):
                data = base64.b64encode(png.read_bytes()).decode()
                figures += f'<figure style="margin:0"><img style="max-width:100%" src="data:image/png;base64,{data}">' \
                           f"<figcaption>{html.escape(png.stem)}</figcaption></figure>"
        return (f"<p><b>{html.escape(str(self.get('experiment')))}</b> · {html.escape(str(self.get('profile')))}"
                f" · {verdict} · {self.get('seconds', 0):.1f} s</p><table>{rows}</table>{figures}")


def _num(x) -> str:
    return "-" if x is None else f"{x:.4g}"
