//! Bar charts drawn on the server as SVG, for the wall board: an axis with round ticks, one
//! bar per bucket with a block per series (a language) stacked on the one below, a legend,
//! and a `<title>`/`<desc>` that screen readers announce. Stacked blocks never hide one
//! another, as lines of equal counts did, and the bar's height is the bucket's total. A
//! chart of shares (the service level) has one series and an axis from 0 to 100 %.
//!
//! Colours come from the stylesheet (`.series-N`), since the console's CSP allows no inline
//! style; the legend's swatches carry the same classes as the blocks. The page shows the same
//! numbers as a table beside the picture. Numbers are written by the caller's formatter (the
//! viewer's language).
//!
//! Labels come from the database and are escaped here: the SVG is put in the page as it is.

use std::fmt::Write;

use quick_xml::escape::escape;

/// How many colours the stylesheet has for series; more series reuse them in turn.
const PALETTE: usize = 6;
/// The drawing's size in user units (it scales to its box).
const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 300.0;
/// Room for the y-axis labels, the legend above and the x-axis labels below.
const LEFT: f64 = 64.0;
const RIGHT: f64 = 32.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 36.0;
/// The share of a bucket's width its bar takes: the gaps tell the buckets apart.
const BAR: f64 = 0.72;
/// The top of a chart of shares, in thousandths (100.0 %).
pub const WHOLE: u64 = 1000;

/// One series: a name and a value per bucket (`None`: nothing to show there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Series {
    /// Shown in the legend and the blocks' tooltips.
    pub name: String,
    /// One value per bucket of the chart, in order.
    pub values: Vec<Option<u64>>,
}

/// What the values are, and so the axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// Counts, stacked; the axis reaches the largest bucket's total.
    Count,
    /// Shares in thousandths ([`WHOLE`] is all); the axis goes from 0 to [`WHOLE`].
    Share,
}

/// What to draw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chart {
    /// Makes the ids of the title and description unique in the page.
    pub id: &'static str,
    /// The chart's title (announced first).
    pub title: String,
    /// What it shows, in a sentence.
    pub description: String,
    /// One label per bucket, in order.
    pub buckets: Vec<String>,
    /// Label one bucket in this many on the axis (1: all).
    pub label_every: usize,
    /// The series, stacked in order from the bottom.
    pub series: Vec<Series>,
    /// Counts or shares.
    pub scale: Scale,
}

impl Chart {
    /// The total of bucket `i` over every series.
    fn total(&self, i: usize) -> u128 {
        self.series.iter().filter_map(|s| s.values.get(i).copied().flatten()).map(u128::from).sum()
    }

    /// The tallest bar.
    fn max(&self) -> u128 {
        (0..self.buckets.len()).map(|i| self.total(i)).max().unwrap_or(0)
    }
}

/// A round step and the axis top for values up to `max`: about four steps of 1, 2 or 5 times
/// a power of ten. In `u128`, so a stack of the largest `u64`s still has a top above it.
fn ticks(max: u128) -> (u128, u128) {
    let max = max.max(1);
    let rough = max.div_ceil(4);
    let mut power: u128 = 1;
    loop {
        for factor in [1, 2, 5] {
            let step = power.saturating_mul(factor);
            if step >= rough {
                return (step, max.div_ceil(step).saturating_mul(step));
            }
        }
        power = power.saturating_mul(10);
    }
}

/// The SVG of `chart`, ready to be put in a page; `number` writes a value (a count, or a
/// share in thousandths) as the viewer reads it.
pub fn bar_chart(chart: &Chart, number: &dyn Fn(u64) -> String) -> String {
    let mut svg = String::with_capacity(16384);
    // Writing to a String cannot fail; the results are ignored for that reason.
    let id = chart.id;
    let _ = write!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" \
         role=\"img\" aria-labelledby=\"{id}-title {id}-desc\">\
         <title id=\"{id}-title\">{}</title><desc id=\"{id}-desc\">{}</desc>",
        escape(chart.title.as_str()),
        escape(chart.description.as_str()),
    );
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let (step, top) = match chart.scale {
        Scale::Count => ticks(chart.max()),
        Scale::Share => (u128::from(WHOLE / 4), u128::from(WHOLE)),
    };
    // f64 loses precision only above 2^53, far beyond any count of calls; the picture does
    // not need it.
    let y = |value: u128| TOP + plot_h - (value.min(top) as f64 / top as f64) * plot_h;
    let n = chart.buckets.len();
    let band = plot_w / n.max(1) as f64;
    let centre = |i: usize| LEFT + band * (i as f64 + 0.5);

    // The y axis: a grid line and a label per tick.
    svg.push_str("<g class=\"axis\">");
    let mut tick = 0u128;
    while tick <= top {
        let ty = y(tick);
        let label = u64::try_from(tick).map_or_else(|_| tick.to_string(), number);
        let _ = write!(
            svg,
            "<line class=\"grid\" x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{ty:.1}\" y2=\"{ty:.1}\"/>\
             <text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            WIDTH - RIGHT,
            LEFT - 8.0,
            ty + 4.0,
            escape(label.as_str()),
        );
        match tick.checked_add(step) {
            Some(next) => tick = next,
            None => break,
        }
    }
    // The x axis: the base line and every `label_every`th bucket's label.
    let _ = write!(
        svg,
        "<line class=\"base\" x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\"/>",
        WIDTH - RIGHT,
        TOP + plot_h,
        TOP + plot_h,
    );
    let every = chart.label_every.max(1);
    for (i, label) in chart.buckets.iter().enumerate() {
        if i % every == 0 || i + 1 == n {
            let _ = write!(
                svg,
                "<text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                centre(i),
                HEIGHT - BOTTOM + 18.0,
                escape(label.as_str()),
            );
        }
    }
    svg.push_str("</g>");

    // The blocks: series by series, each bucket's block on top of the series below it, with
    // a tooltip giving the number.
    let mut below = vec![0u128; n];
    let width = band * BAR;
    for (s, series) in chart.series.iter().enumerate() {
        let name = escape(series.name.as_str());
        let _ = write!(svg, "<g class=\"series series-{}\">", s % PALETTE);
        for (i, (value, label)) in series.values.iter().zip(&chart.buckets).enumerate() {
            let Some(value) = *value else { continue };
            let base = below[i];
            let height = base.saturating_add(u128::from(value));
            below[i] = height;
            if value == 0 {
                continue;
            }
            let (y0, y1) = (y(base), y(height));
            let _ = write!(
                svg,
                "<rect x=\"{:.1}\" y=\"{y1:.1}\" width=\"{width:.1}\" height=\"{:.1}\">\
                 <title>{name} · {}: {}</title></rect>",
                centre(i) - width / 2.0,
                (y0 - y1).max(0.0),
                escape(label.as_str()),
                escape(number(value).as_str()),
            );
        }
        svg.push_str("</g>");
    }

    // The legend, in a row above the plot, with the blocks' colours.
    svg.push_str("<g class=\"legend\">");
    let mut lx = LEFT;
    for (s, series) in chart.series.iter().enumerate() {
        let _ = write!(
            svg,
            "<g class=\"series series-{}\"><rect x=\"{lx:.1}\" y=\"12\" width=\"14\" height=\"14\"/>\
             <text x=\"{:.1}\" y=\"24\">{}</text></g>",
            s % PALETTE,
            lx + 20.0,
            escape(series.name.as_str()),
        );
        // Room for the name: a generous average glyph width, capped so a hostile label
        // cannot push the rest out of the picture entirely.
        lx += 40.0 + 9.0 * series.name.chars().count().min(24) as f64;
    }
    svg.push_str("</g></svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(series: Vec<Series>, buckets: usize) -> Chart {
        Chart {
            id: "test",
            title: "Calls per hour".into(),
            description: "Calls per hour and language, last 24 hours".into(),
            buckets: (0..buckets).map(|h| format!("{h:02}:00")).collect(),
            label_every: 3,
            series,
            scale: Scale::Count,
        }
    }

    fn counts(name: &str, values: impl IntoIterator<Item = u64>) -> Series {
        Series { name: name.into(), values: values.into_iter().map(Some).collect() }
    }

    fn plain(value: u64) -> String {
        value.to_string()
    }

    /// Parses the SVG as XML and returns it, so a test can look inside.
    fn parsed(svg: &str) -> roxmltree::Document<'_> {
        roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("not XML: {e}\n{svg}"))
    }

    fn texts(doc: &roxmltree::Document<'_>, tag: &str) -> Vec<String> {
        doc.descendants()
            .filter(|n| n.has_tag_name(tag))
            .map(|n| n.text().unwrap_or("").to_owned())
            .collect()
    }

    /// The blocks of the plot (not the legend's swatches): class, y, height.
    fn blocks(doc: &roxmltree::Document<'_>) -> Vec<(String, f64, f64)> {
        doc.descendants()
            .filter(|n| n.has_tag_name("rect"))
            .filter(|n| n.ancestors().all(|a| a.attribute("class") != Some("legend")))
            .map(|n| {
                let class = n.parent().and_then(|p| p.attribute("class")).unwrap_or("").to_owned();
                let number = |name| n.attribute(name).unwrap().parse::<f64>().unwrap();
                (class, number("y"), number("height"))
            })
            .collect()
    }

    #[test]
    fn a_chart_is_svg_with_a_title_a_description_and_a_block_per_series_and_bucket() {
        let svg =
            bar_chart(&chart(vec![counts("ru", 0..24), counts("ko", vec![1; 24])], 24), &plain);
        let doc = parsed(&svg);
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "svg");
        assert_eq!(root.attribute("role"), Some("img"));
        assert_eq!(root.attribute("aria-labelledby"), Some("test-title test-desc"));
        let first = root.first_element_child().unwrap();
        assert_eq!((first.tag_name().name(), first.text()), ("title", Some("Calls per hour")));
        assert_eq!(texts(&doc, "desc"), ["Calls per hour and language, last 24 hours"]);
        // ru has no block where it counts 0; ko one in every bucket.
        assert_eq!(blocks(&doc).len(), 23 + 24);
        let tooltips = texts(&doc, "title");
        assert!(tooltips.contains(&"ru · 23:00: 23".to_owned()), "{tooltips:?}");
        // The axis reaches the tallest stack (23 + 1), on round ticks.
        let ticks: Vec<u64> = texts(&doc, "text").iter().filter_map(|t| t.parse().ok()).collect();
        assert_eq!(ticks, [0, 10, 20, 30]);
        // No inline style anywhere: the console's CSP would refuse it.
        assert!(!svg.contains("style"), "{svg}");
    }

    #[test]
    fn equal_series_are_stacked_not_drawn_over_each_other() {
        let svg = bar_chart(&chart(vec![counts("ru", [2, 2]), counts("uk", [2, 2])], 2), &plain);
        let doc = parsed(&svg);
        let blocks = blocks(&doc);
        let ru: Vec<_> = blocks.iter().filter(|b| b.0.ends_with("series-0")).collect();
        let uk: Vec<_> = blocks.iter().filter(|b| b.0.ends_with("series-1")).collect();
        assert_eq!((ru.len(), uk.len()), (2, 2));
        for (low, high) in ru.iter().zip(&uk) {
            // Same height, the second right on top of the first: both wholly visible.
            assert!((low.2 - high.2).abs() < 0.01, "{low:?} {high:?}");
            assert!((high.1 + high.2 - low.1).abs() < 0.01, "{low:?} {high:?}");
        }
        // The legend has a swatch of each series' colour, in the same order.
        let legend = doc.descendants().find(|n| n.attribute("class") == Some("legend")).unwrap();
        let swatches: Vec<_> = legend
            .children()
            .filter_map(|g| {
                g.attribute("class").map(|c| {
                    (
                        c.to_owned(),
                        g.descendants()
                            .find_map(|t| t.has_tag_name("text").then(|| t.text()).flatten()),
                    )
                })
            })
            .collect();
        assert_eq!(
            swatches,
            [
                ("series series-0".to_owned(), Some("ru")),
                ("series series-1".to_owned(), Some("uk"))
            ]
        );
    }

    #[test]
    fn an_empty_chart_still_draws_its_axis() {
        for c in [chart(vec![], 24), chart(vec![], 0), chart(vec![counts("ru", vec![0; 24])], 24)] {
            let svg = bar_chart(&c, &plain);
            let doc = parsed(&svg);
            assert!(doc.descendants().any(|n| n.has_tag_name("line")), "{svg}");
            assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
            assert!(blocks(&doc).is_empty());
        }
    }

    #[test]
    fn shares_run_from_none_to_all_and_missing_buckets_have_no_bar() {
        let mut c = chart(
            vec![Series { name: "in 20 s".into(), values: vec![Some(500), None, Some(1000)] }],
            3,
        );
        c.scale = Scale::Share;
        let svg = bar_chart(&c, &|v| format!("{}%", v / 10));
        let doc = parsed(&svg);
        let labels = texts(&doc, "text");
        for tick in ["0%", "25%", "50%", "75%", "100%"] {
            assert!(labels.contains(&tick.to_owned()), "{labels:?}");
        }
        let blocks = blocks(&doc);
        assert_eq!(blocks.len(), 2);
        assert!((blocks[0].2 * 2.0 - blocks[1].2).abs() < 0.01, "{blocks:?}");
        assert!((blocks[1].1 - TOP).abs() < 0.01, "all reaches the top: {blocks:?}");
        assert!(texts(&doc, "title").contains(&"in 20 s · 00:00: 50%".to_owned()));
    }

    #[test]
    fn huge_counts_stay_on_the_picture() {
        let svg = bar_chart(
            &chart(
                vec![counts("ru", [u64::MAX, 0, u64::MAX / 2]), counts("uk", [u64::MAX, 1, 0])],
                3,
            ),
            &plain,
        );
        let doc = parsed(&svg);
        for (_, y, height) in blocks(&doc) {
            assert!((TOP - 0.01..=HEIGHT - BOTTOM).contains(&y), "{y}");
            assert!(y + height <= HEIGHT - BOTTOM + 0.01, "{y} {height}");
        }
        assert!(texts(&doc, "title").iter().any(|t| t.ends_with(&u64::MAX.to_string())));
        assert!(ticks(u128::from(u64::MAX) * 2).1 >= u128::from(u64::MAX) * 2);
        assert_eq!(ticks(0), (1, 1));
        assert_eq!(ticks(7), (2, 8));
        assert!(ticks(u128::MAX).1 > 0);
    }

    #[test]
    fn hostile_labels_are_escaped() {
        let evil = "<script>alert(1)</script>\"&'</title><x/>";
        let mut c = chart(vec![counts(evil, [1, 2])], 2);
        c.title = evil.into();
        c.description = evil.into();
        c.buckets = vec![evil.into(), "]]><!--".into()];
        let svg = bar_chart(&c, &|_| evil.to_owned());
        assert!(!svg.contains("<script"), "{svg}");
        let doc = parsed(&svg);
        // Every copy of the label reads back as the label itself: text, never markup.
        assert!(doc.descendants().all(|n| !n.has_tag_name("script") && !n.has_tag_name("x")));
        assert_eq!(texts(&doc, "desc"), [evil]);
        let legend = doc.descendants().find(|n| n.attribute("class") == Some("legend")).unwrap();
        assert!(legend.descendants().any(|n| n.text() == Some(evil)));
    }
}
