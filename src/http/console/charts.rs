//! Line charts drawn on the server as SVG, for the wall board: an axis with round ticks, one
//! line per series (a language), a legend, and a `<title>`/`<desc>` that screen readers
//! announce. Colours come from the stylesheet (`.series-N`), since the console's CSP allows
//! no inline style; the page shows the same numbers as a table beside the picture.
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

/// One line: a name and a value per bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Series {
    /// Shown in the legend and the points' tooltips.
    pub name: String,
    /// One value per bucket of the chart, in order.
    pub values: Vec<u64>,
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
    /// The lines.
    pub series: Vec<Series>,
}

impl Chart {
    /// The largest value of any series.
    fn max(&self) -> u64 {
        self.series.iter().flat_map(|s| s.values.iter().copied()).max().unwrap_or(0)
    }
}

/// A round step and the axis top for values up to `max`: about four steps of 1, 2 or 5 times
/// a power of ten. In `u128`, so the largest `u64` still has a top above it.
fn ticks(max: u64) -> (u128, u128) {
    let max = u128::from(max.max(1));
    let rough = max.div_ceil(4);
    let mut power: u128 = 1;
    loop {
        for factor in [1, 2, 5] {
            let step = power * factor;
            if step >= rough {
                return (step, max.div_ceil(step) * step);
            }
        }
        power *= 10;
    }
}

/// The SVG of `chart`, ready to be put in a page.
pub fn line_chart(chart: &Chart) -> String {
    let mut svg = String::with_capacity(8192);
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
    let (step, top) = ticks(chart.max());
    // f64 loses precision only above 2^53, far beyond any count of calls; the picture does
    // not need it.
    let y = |value: u128| TOP + plot_h - (value as f64 / top as f64) * plot_h;
    let n = chart.buckets.len();
    let x = |i: usize| {
        if n <= 1 { LEFT + plot_w / 2.0 } else { LEFT + plot_w * i as f64 / (n - 1) as f64 }
    };

    // The y axis: a grid line and a label per tick.
    svg.push_str("<g class=\"axis\">");
    let mut tick = 0u128;
    while tick <= top {
        let ty = y(tick);
        let _ = write!(
            svg,
            "<line class=\"grid\" x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{ty:.1}\" y2=\"{ty:.1}\"/>\
             <text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{tick}</text>",
            WIDTH - RIGHT,
            LEFT - 8.0,
            ty + 4.0,
        );
        tick += step;
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
                x(i),
                HEIGHT - BOTTOM + 18.0,
                escape(label.as_str()),
            );
        }
    }
    svg.push_str("</g>");

    // The lines, each with a point per bucket whose tooltip gives the number.
    for (s, series) in chart.series.iter().enumerate() {
        let class = s % PALETTE;
        let name = escape(series.name.as_str());
        let _ = write!(svg, "<g class=\"series series-{class}\">");
        let points: Vec<String> = series
            .values
            .iter()
            .take(n)
            .enumerate()
            .map(|(i, v)| format!("{:.1},{:.1}", x(i), y(u128::from(*v))))
            .collect();
        if points.len() > 1 {
            let _ = write!(svg, "<polyline points=\"{}\"/>", points.join(" "));
        }
        for (i, (value, label)) in series.values.iter().zip(&chart.buckets).enumerate() {
            let _ = write!(
                svg,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\"><title>{name} · {}: {value}</title></circle>",
                x(i),
                y(u128::from(*value)),
                escape(label.as_str()),
            );
        }
        svg.push_str("</g>");
    }

    // The legend, in a row above the plot.
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
        }
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

    #[test]
    fn a_chart_is_svg_with_a_title_a_description_and_a_line_per_series() {
        let svg = line_chart(&chart(
            vec![
                Series { name: "ru".into(), values: (0..24).collect() },
                Series { name: "ko".into(), values: vec![1; 24] },
            ],
            24,
        ));
        let doc = parsed(&svg);
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "svg");
        assert_eq!(root.attribute("role"), Some("img"));
        assert_eq!(root.attribute("aria-labelledby"), Some("test-title test-desc"));
        let first = root.first_element_child().unwrap();
        assert_eq!((first.tag_name().name(), first.text()), ("title", Some("Calls per hour")));
        assert_eq!(texts(&doc, "desc"), ["Calls per hour and language, last 24 hours"]);
        assert_eq!(doc.descendants().filter(|n| n.has_tag_name("polyline")).count(), 2);
        assert_eq!(doc.descendants().filter(|n| n.has_tag_name("circle")).count(), 48);
        let tooltips = texts(&doc, "title");
        assert!(tooltips.contains(&"ru · 23:00: 23".to_owned()), "{tooltips:?}");
        // The axis reaches at least the largest value (23), on round ticks.
        let ticks: Vec<u64> = texts(&doc, "text").iter().filter_map(|t| t.parse().ok()).collect();
        assert_eq!(ticks, [0, 10, 20, 30]);
        // No inline style anywhere: the console's CSP would refuse it.
        assert!(!svg.contains("style"), "{svg}");
    }

    #[test]
    fn an_empty_chart_still_draws_its_axis() {
        for c in [
            chart(vec![], 24),
            chart(vec![], 0),
            chart(vec![Series { name: "ru".into(), values: vec![0; 24] }], 24),
        ] {
            let svg = line_chart(&c);
            let doc = parsed(&svg);
            assert!(doc.descendants().any(|n| n.has_tag_name("line")), "{svg}");
            assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
        }
    }

    #[test]
    fn one_language_one_bucket_is_a_point_not_a_line() {
        let svg = line_chart(&chart(vec![Series { name: "uk".into(), values: vec![7] }], 1));
        let doc = parsed(&svg);
        assert_eq!(doc.descendants().filter(|n| n.has_tag_name("polyline")).count(), 0);
        assert_eq!(doc.descendants().filter(|n| n.has_tag_name("circle")).count(), 1);
        assert_eq!(texts(&doc, "title").last().map(String::as_str), Some("uk · 00:00: 7"));
    }

    #[test]
    fn huge_counts_stay_on_the_picture() {
        let svg = line_chart(&chart(
            vec![Series { name: "ru".into(), values: vec![u64::MAX, 0, u64::MAX / 2] }],
            3,
        ));
        let doc = parsed(&svg);
        for circle in doc.descendants().filter(|n| n.has_tag_name("circle")) {
            let cy: f64 = circle.attribute("cy").unwrap().parse().unwrap();
            assert!((TOP..=HEIGHT - BOTTOM).contains(&cy), "{cy}");
        }
        assert!(texts(&doc, "title").iter().any(|t| t.ends_with(&u64::MAX.to_string())));
        assert!(ticks(u64::MAX).1 >= u128::from(u64::MAX));
        assert_eq!(ticks(0), (1, 1));
        assert_eq!(ticks(7), (2, 8));
    }

    #[test]
    fn hostile_labels_are_escaped() {
        let evil = "<script>alert(1)</script>\"&'</title><x/>";
        let mut c = chart(vec![Series { name: evil.into(), values: vec![1, 2] }], 2);
        c.title = evil.into();
        c.description = evil.into();
        c.buckets = vec![evil.into(), "]]><!--".into()];
        let svg = line_chart(&c);
        assert!(!svg.contains("<script"), "{svg}");
        let doc = parsed(&svg);
        // Every copy of the label reads back as the label itself: text, never markup.
        assert!(doc.descendants().all(|n| !n.has_tag_name("script") && !n.has_tag_name("x")));
        assert_eq!(texts(&doc, "desc"), [evil]);
        let legend = doc.descendants().find(|n| n.attribute("class") == Some("legend")).unwrap();
        assert!(legend.descendants().any(|n| n.text() == Some(evil)));
    }
}
