//! Turning samples into the benchmark's table: medians with min..max per tool, direction and
//! size, and ratios to s3mt; written as Markdown, JSON and an SVG chart.

use std::fmt::Write as _;

use serde::Serialize;

use super::measure::Sample;

/// One tool (with its settings), one direction, one size, and every measured run.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub tool: String,
    pub direction: &'static str,
    pub size_bytes: u64,
    pub runs: Vec<RunFigures>,
}

/// The figures of one run, per GiB where it says so.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct RunFigures {
    pub seconds: f64,
    pub mb_per_s: f64,
    pub cpu_s_per_gib: f64,
    pub peak_rss_mib: f64,
    pub server_cpu_s_per_gib: f64,
}

impl RunFigures {
    pub fn new(sample: &Sample, bytes: u64) -> Self {
        let seconds = sample.wall.as_secs_f64();
        let gib = bytes as f64 / (1u64 << 30) as f64;
        Self {
            seconds,
            mb_per_s: bytes as f64 / seconds.max(1e-9) / 1e6,
            cpu_s_per_gib: sample.cpu_seconds / gib,
            peak_rss_mib: sample.peak_rss_kib as f64 / 1024.0,
            server_cpu_s_per_gib: sample.server_cpu_seconds / gib,
        }
    }
}

/// Median, min and max of `values` (empty: zeros).
pub fn spread(mut values: Vec<f64>) -> (f64, f64, f64) {
    if values.is_empty() {
        return (0.0, 0.0, 0.0);
    }
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    let median = if values.len() % 2 == 1 {
        values[middle]
    } else {
        (values[middle - 1] + values[middle]) / 2.0
    };
    (median, values[0], values[values.len() - 1])
}

impl Row {
    fn figure(&self, pick: impl Fn(&RunFigures) -> f64) -> (f64, f64, f64) {
        spread(self.runs.iter().map(pick).collect())
    }

    /// Median MB/s.
    pub fn mb_per_s(&self) -> f64 {
        self.figure(|run| run.mb_per_s).0
    }

    /// Median client CPU seconds per GiB.
    pub fn cpu_s_per_gib(&self) -> f64 {
        self.figure(|run| run.cpu_s_per_gib).0
    }
}

/// `median (min..max)` with `digits` decimals.
fn cell((median, min, max): (f64, f64, f64), digits: usize) -> String {
    format!("{median:.digits$} ({min:.digits$}..{max:.digits$})")
}

/// The Markdown table: one line per row, with ratios to s3mt's row of the same direction and
/// size (throughput: tool / s3mt, higher is better for the tool; CPU: tool / s3mt).
pub fn markdown(rows: &[Row]) -> String {
    let mut out = String::from(
        "| tool | direction | size | MB/s | vs s3mt | client CPU s/GiB | vs s3mt | peak RSS MiB | server CPU s/GiB |\n\
         |---|---|---|---|---|---|---|---|---|\n",
    );
    for row in rows {
        let baseline = rows.iter().find(|other| {
            other.tool == "s3mt"
                && other.direction == row.direction
                && other.size_bytes == row.size_bytes
        });
        let ratio = |ours: f64, theirs: f64| {
            if theirs > 0.0 {
                format!("{:.2}x", ours / theirs)
            } else {
                "-".to_owned()
            }
        };
        let (speed, cpu) = match baseline {
            Some(base) => (
                ratio(row.mb_per_s(), base.mb_per_s()),
                ratio(row.cpu_s_per_gib(), base.cpu_s_per_gib()),
            ),
            None => ("-".to_owned(), "-".to_owned()),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {speed} | {} | {cpu} | {} | {} |",
            row.tool,
            row.direction,
            s3mt_engine::size::format_size(row.size_bytes),
            cell(row.figure(|run| run.mb_per_s), 1),
            cell(row.figure(|run| run.cpu_s_per_gib), 2),
            cell(row.figure(|run| run.peak_rss_mib), 1),
            cell(row.figure(|run| run.server_cpu_s_per_gib), 2),
        );
    }
    out
}

/// A bar chart of median MB/s and client CPU s/GiB per tool and direction (first size only),
/// as a standalone SVG.
pub fn svg(rows: &[Row]) -> String {
    let Some(size) = rows.first().map(|row| row.size_bytes) else {
        return String::new();
    };
    let rows: Vec<&Row> = rows.iter().filter(|row| row.size_bytes == size).collect();
    let bar_height = 16.0;
    let gap = 6.0;
    let label_width = 260.0;
    let chart_width = 300.0;
    let panels = [
        (
            "MB/s (median)",
            rows.iter().map(|r| r.mb_per_s()).collect::<Vec<_>>(),
        ),
        (
            "client CPU s/GiB (median)",
            rows.iter().map(|r| r.cpu_s_per_gib()).collect::<Vec<_>>(),
        ),
    ];
    let height = 40.0 + rows.len() as f64 * (bar_height + gap);
    let width = label_width + 2.0 * (chart_width + 40.0);
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         font-family=\"sans-serif\" font-size=\"12\">\n"
    );
    for (index, row) in rows.iter().enumerate() {
        let y = 30.0 + index as f64 * (bar_height + gap);
        let _ = writeln!(
            out,
            "<text x=\"4\" y=\"{}\">{} {}</text>",
            y + bar_height - 4.0,
            escape(&row.tool),
            row.direction
        );
    }
    for (panel, (title, values)) in panels.iter().enumerate() {
        let left = label_width + panel as f64 * (chart_width + 40.0);
        let top = values.iter().copied().fold(0.0, f64::max).max(1e-9);
        let _ = writeln!(
            out,
            "<text x=\"{left}\" y=\"16\" font-weight=\"bold\">{title}</text>"
        );
        for (index, value) in values.iter().enumerate() {
            let y = 30.0 + index as f64 * (bar_height + gap);
            let length = value / top * chart_width;
            let colour = if rows[index].tool.starts_with("s3mt") {
                "#1f77b4"
            } else {
                "#999999"
            };
            let _ = writeln!(
                out,
                "<rect x=\"{left}\" y=\"{y}\" width=\"{length:.1}\" height=\"{bar_height}\" fill=\"{colour}\"/>\
                 <text x=\"{:.1}\" y=\"{}\">{value:.2}</text>",
                left + length + 4.0,
                y + bar_height - 4.0
            );
        }
    }
    out.push_str("</svg>\n");
    out
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(tool: &str, direction: &'static str, mb: &[f64]) -> Row {
        Row {
            tool: tool.to_owned(),
            direction,
            size_bytes: 1 << 30,
            runs: mb
                .iter()
                .map(|mb| RunFigures {
                    seconds: 1.0,
                    mb_per_s: *mb,
                    cpu_s_per_gib: mb / 100.0,
                    peak_rss_mib: 20.0,
                    server_cpu_s_per_gib: 1.0,
                })
                .collect(),
        }
    }

    #[test]
    fn medians_spreads_and_ratios() {
        assert_eq!(spread(vec![3.0, 1.0, 2.0]), (2.0, 1.0, 3.0));
        assert_eq!(spread(vec![4.0, 1.0, 2.0, 3.0]), (2.5, 1.0, 4.0));
        let rows = [
            row("s3mt", "upload", &[100.0, 110.0, 90.0]),
            row("s5cmd", "upload", &[50.0, 55.0, 45.0]),
        ];
        let table = markdown(&rows);
        assert!(
            table.contains("| s3mt | upload | 1 GiB | 100.0 (90.0..110.0) | 1.00x |"),
            "{table}"
        );
        assert!(
            table.contains("| s5cmd | upload | 1 GiB | 50.0 (45.0..55.0) | 0.50x |"),
            "{table}"
        );
        let chart = svg(&rows);
        assert!(
            chart.starts_with("<svg") && chart.contains("s5cmd upload"),
            "{chart}"
        );
    }
}
