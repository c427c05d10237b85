//! A layered drawing of a directed graph (Sugiyama's method), for the flow diagram: boxes in
//! rows, every edge drawn down from row to row, no line through a box and no label over
//! another.
//!
//! 1. Rows: each node's distance from the start, pushed down until every edge that is not a
//!    way back goes down at least one row. Ways back (to a row above, or sideways) are drawn
//!    as edges going down with their arrow at the top.
//! 2. Between two rows of boxes lies a row of labels. An edge longer than one step is cut by
//!    a point in each row it crosses, and its label becomes a box of its own in the label row
//!    next to where it starts: labels are laid out like boxes, so they cannot overlap.
//! 3. Order within rows: barycentre sweeps down and up, keeping the order with the fewest
//!    crossings.
//! 4. Positions within rows: each box as near the mean of its neighbours as the gaps to the
//!    boxes beside it allow (an isotonic regression, solved exactly by pooling adjacent
//!    violators), swept down and up.
//!
//! Within a row only boxes and the vertical passes of edges through their own points lie,
//! side by side with gaps; between rows only edge segments. So a segment never crosses a box.
//! An edge from a box to itself is a loop on the box's right, inside the room kept there.

use std::collections::VecDeque;

/// Height of a row of labels.
const LABEL_ROW: f64 = 18.0;
/// Vertical room between a row of boxes and a row of labels, where the segments run.
const GAP_Y: f64 = 22.0;
/// Horizontal room between two boxes of a row.
const GAP_BOX: f64 = 28.0;
/// Horizontal room between an edge's point and its neighbours.
const GAP_POINT: f64 = 14.0;
/// Room around the drawing.
const MARGIN: f64 = 16.0;
/// How far a loop reaches out of its box.
const LOOP_REACH: f64 = 14.0;
/// Between a line and its label.
const LABEL_PAD: f64 = 4.0;
/// Sweeps of the ordering and of the positioning.
const SWEEPS: usize = 12;

/// A rectangle: left, top, width, height.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rect {
    /// Left.
    pub x: f64,
    /// Top.
    pub y: f64,
    /// Width.
    pub w: f64,
    /// Height.
    pub h: f64,
}

/// The graph to draw: the size of each node's box, the edges.
pub struct Graph {
    /// Width and height of each node's box.
    pub sizes: Vec<(f64, f64)>,
    /// The edges.
    pub edges: Vec<Edge>,
    /// The node the flow starts at: the top row.
    pub start: usize,
}

/// An edge, with the size of its label.
pub struct Edge {
    /// Where it leaves.
    pub from: usize,
    /// Where it arrives.
    pub to: usize,
    /// Width and height of its label, if it has one.
    pub label: Option<(f64, f64)>,
}

/// The drawing: each node's box, each edge's route (in the order given).
pub struct Layout {
    /// Width of the drawing.
    pub width: f64,
    /// Height of the drawing.
    pub height: f64,
    /// Each node's box.
    pub nodes: Vec<Rect>,
    /// Each edge's route.
    pub edges: Vec<Route>,
}

/// How an edge is drawn.
pub struct Route {
    /// The polyline, from the edge's start to its end.
    pub points: Vec<(f64, f64)>,
    /// Where its label goes.
    pub label: Option<Rect>,
}

/// One place in a row: a node's box, or a point of an edge (with its label's box beside it).
struct Slot {
    /// The row.
    row: usize,
    /// What it is.
    kind: Kind,
    /// Room left of its centre line.
    left: f64,
    /// Room right of its centre line.
    right: f64,
    /// Its centre line.
    x: f64,
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Node(usize),
    /// A point of an edge; `true` when its label sits beside it.
    Point(bool),
}

/// An edge as laid out: its slots from top to bottom, and whether it goes up.
struct Chain {
    slots: Vec<usize>,
    upward: bool,
}

/// Lays `graph` out.
pub fn layout(graph: &Graph) -> Layout {
    let n = graph.sizes.len();
    let rows = node_rows(graph);
    // Loops widen their box's room on the right: one reach per loop, and the widest label.
    let mut loop_room = vec![0.0f64; n];
    let mut loops = vec![0usize; n];
    for edge in graph.edges.iter().filter(|e| e.from == e.to && e.from < n) {
        loops[edge.from] += 1;
        let label = edge.label.map_or(0.0, |(w, _)| w + LABEL_PAD);
        loop_room[edge.from] = loop_room[edge.from].max(label);
    }
    let mut slots: Vec<Slot> = (0..n)
        .map(|node| {
            let half = graph.sizes[node].0 / 2.0;
            let loop_width = if loops[node] > 0 {
                LOOP_REACH * loops[node] as f64 + loop_room[node]
            } else {
                0.0
            };
            Slot {
                row: rows[node] * 2,
                kind: Kind::Node(node),
                left: half,
                right: half + loop_width,
                x: 0.0,
            }
        })
        .collect();
    let mut chains: Vec<Option<Chain>> = Vec::with_capacity(graph.edges.len());
    for edge in &graph.edges {
        if edge.from == edge.to || edge.from >= n || edge.to >= n {
            chains.push(None);
            continue;
        }
        let upward = rows[edge.to] < rows[edge.from]
            || (rows[edge.to] == rows[edge.from] && edge.to < edge.from);
        let (top, bottom) = if upward { (edge.to, edge.from) } else { (edge.from, edge.to) };
        let (first, last) = (slots[top].row + 1, slots[bottom].row.max(slots[top].row + 2) - 1);
        // The label sits next to where the edge starts: below its box, or above it for an
        // edge going up.
        let label_row = edge.label.map(|_| if upward { last } else { first });
        let mut chain = vec![top];
        for row in first..=last {
            let labelled = label_row == Some(row);
            let right = match (labelled, edge.label) {
                (true, Some((w, _))) => LABEL_PAD + w,
                _ => 0.0,
            };
            chain.push(slots.len());
            slots.push(Slot { row, kind: Kind::Point(labelled), left: 0.0, right, x: 0.0 });
        }
        chain.push(bottom);
        chains.push(Some(Chain { slots: chain, upward }));
    }
    let row_count = slots.iter().map(|s| s.row + 1).max().unwrap_or(0);
    let (up, down) = neighbours(&slots, &chains);
    let mut order = initial_order(&slots, &down, row_count, graph.start.min(n.saturating_sub(1)));
    reduce_crossings(&mut order, &up, &down, &slots);
    place(&mut slots, &order, &up, &down);
    // Row tops: rows of boxes as tall as their tallest box, rows of labels LABEL_ROW.
    let mut tops = Vec::with_capacity(row_count);
    let mut heights = Vec::with_capacity(row_count);
    let mut y = MARGIN;
    for (row, slots_in_row) in order.iter().enumerate() {
        let height = if row % 2 == 0 {
            slots_in_row
                .iter()
                .filter_map(|&s| match slots[s].kind {
                    Kind::Node(node) => Some(graph.sizes[node].1),
                    Kind::Point(_) => None,
                })
                .fold(0.0, f64::max)
        } else {
            LABEL_ROW
        };
        tops.push(y);
        heights.push(height);
        y += height + GAP_Y;
    }
    let height = y - GAP_Y + MARGIN;
    let min_left = slots.iter().map(|s| s.x - s.left).fold(f64::INFINITY, f64::min);
    let shift = if min_left.is_finite() { MARGIN - min_left } else { 0.0 };
    for slot in &mut slots {
        slot.x += shift;
    }
    let width = slots.iter().map(|s| s.x + s.right).fold(0.0, f64::max) + MARGIN;
    let nodes: Vec<Rect> = (0..n)
        .map(|node| {
            let (w, h) = graph.sizes[node];
            let row = slots[node].row;
            Rect { x: slots[node].x - w / 2.0, y: tops[row] + (heights[row] - h) / 2.0, w, h }
        })
        .collect();
    let ports = Ports::of(&slots, &chains, &nodes);
    let mut loops_drawn = vec![0usize; n];
    let edges = graph
        .edges
        .iter()
        .zip(&chains)
        .enumerate()
        .map(|(index, (edge, chain))| match chain {
            Some(chain) => {
                let mut points = vec![ports.bottom[index]];
                let mut label = None;
                for &s in &chain.slots[1..chain.slots.len() - 1] {
                    let slot = &slots[s];
                    let (top, bottom) = (tops[slot.row], tops[slot.row] + heights[slot.row]);
                    points.push((slot.x, top));
                    points.push((slot.x, bottom));
                    if slot.kind == Kind::Point(true)
                        && let Some((w, h)) = edge.label
                    {
                        label = Some(Rect {
                            x: slot.x + LABEL_PAD,
                            y: top + (heights[slot.row] - h) / 2.0,
                            w,
                            h,
                        });
                    }
                }
                points.push(ports.top[index]);
                if chain.upward {
                    points.reverse();
                }
                Route { points, label }
            }
            None if edge.from < n && edge.from == edge.to => {
                let node = nodes[edge.from];
                let i = loops_drawn[edge.from];
                loops_drawn[edge.from] += 1;
                let reach = LOOP_REACH * (i + 1) as f64;
                let rise = node.h / 2.0 * (i + 1) as f64 / (loops[edge.from] + 1) as f64;
                let (right, middle) = (node.x + node.w, node.y + node.h / 2.0);
                let points = vec![
                    (right, middle - rise),
                    (right + reach, middle - rise),
                    (right + reach, middle + rise),
                    (right, middle + rise),
                ];
                // Every loop's label is stacked beside the outermost loop.
                let label = edge.label.map(|(w, h)| Rect {
                    x: right + LOOP_REACH * loops[edge.from] as f64 + LABEL_PAD,
                    y: node.y + (node.h - h * loops[edge.from] as f64) / 2.0 + h * i as f64,
                    w,
                    h,
                });
                Route { points, label }
            }
            None => Route { points: Vec::new(), label: None },
        })
        .collect();
    Layout { width, height, nodes, edges }
}

/// Each node's row: its distance from the start (the nodes it does not reach below the
/// rest), then pushed down until each edge that is not a way back goes down.
fn node_rows(graph: &Graph) -> Vec<usize> {
    let n = graph.sizes.len();
    let mut depth = vec![usize::MAX; n];
    let mut queue = VecDeque::new();
    if graph.start < n {
        depth[graph.start] = 0;
        queue.push_back(graph.start);
    }
    while let Some(node) = queue.pop_front() {
        for edge in graph.edges.iter().filter(|e| e.from == node && e.to < n) {
            if depth[edge.to] == usize::MAX {
                depth[edge.to] = depth[node] + 1;
                queue.push_back(edge.to);
            }
        }
    }
    let unreached = depth.iter().filter(|d| **d != usize::MAX).max().map_or(0, |d| d + 1);
    for d in &mut depth {
        if *d == usize::MAX {
            *d = unreached;
        }
    }
    // Orienting each edge from the lower (depth, index) to the higher leaves no cycle, and
    // visiting nodes in that order sees every node after all that point down to it.
    let mut by_key: Vec<usize> = (0..n).collect();
    by_key.sort_by_key(|&node| (depth[node], node));
    let mut rows = depth.clone();
    for &node in &by_key {
        for edge in graph.edges.iter().filter(|e| e.from != e.to && e.from < n && e.to < n) {
            let (a, b) = (edge.from, edge.to);
            let (top, bottom) = if (depth[a], a) < (depth[b], b) { (a, b) } else { (b, a) };
            if bottom == node {
                rows[node] = rows[node].max(rows[top] + 1);
            }
        }
    }
    // Rows left empty by the pushing are closed up.
    let mut used: Vec<usize> = rows.clone();
    used.sort_unstable();
    used.dedup();
    rows.iter().map(|row| used.binary_search(row).unwrap_or(0)).collect()
}

/// Each slot's neighbours in the row above and in the row below.
fn neighbours(slots: &[Slot], chains: &[Option<Chain>]) -> (Vec<Vec<usize>>, Vec<Vec<usize>>) {
    let mut up = vec![Vec::new(); slots.len()];
    let mut down = vec![Vec::new(); slots.len()];
    for chain in chains.iter().flatten() {
        for pair in chain.slots.windows(2) {
            down[pair[0]].push(pair[1]);
            up[pair[1]].push(pair[0]);
        }
    }
    (up, down)
}

/// The rows in the order a walk down from the start meets their slots.
fn initial_order(
    slots: &[Slot],
    down: &[Vec<usize>],
    rows: usize,
    start: usize,
) -> Vec<Vec<usize>> {
    let mut seen = vec![false; slots.len()];
    let mut order = vec![Vec::new(); rows];
    let visit = |root: usize, order: &mut Vec<Vec<usize>>, seen: &mut Vec<bool>| {
        let mut stack = vec![root];
        while let Some(s) = stack.pop() {
            if std::mem::replace(&mut seen[s], true) {
                continue;
            }
            order[slots[s].row].push(s);
            stack.extend(down[s].iter().rev());
        }
    };
    if !slots.is_empty() {
        visit(start, &mut order, &mut seen);
    }
    for s in 0..slots.len() {
        if !seen[s] {
            visit(s, &mut order, &mut seen);
        }
    }
    order
}

/// Reorders each row by the mean position of its neighbours, down then up, and keeps the
/// order with the fewest crossings.
fn reduce_crossings(
    order: &mut [Vec<usize>],
    up: &[Vec<usize>],
    down: &[Vec<usize>],
    slots: &[Slot],
) {
    let mut position = vec![0.0f64; slots.len()];
    let index = |order: &[Vec<usize>], position: &mut Vec<f64>| {
        for row in order {
            for (i, &s) in row.iter().enumerate() {
                position[s] = i as f64;
            }
        }
    };
    index(order, &mut position);
    let mut best = order.to_vec();
    let mut fewest = crossings(order, down, &position);
    for sweep in 0..SWEEPS {
        let downward = sweep % 2 == 0;
        let rows: Vec<usize> = if downward {
            (1..order.len()).collect()
        } else {
            (0..order.len().saturating_sub(1)).rev().collect()
        };
        for row in rows {
            let by = if downward { up } else { down };
            let mut keyed: Vec<(f64, usize)> = order[row]
                .iter()
                .map(|&s| {
                    let near = &by[s];
                    let key = if near.is_empty() {
                        position[s]
                    } else {
                        near.iter().map(|&t| position[t]).sum::<f64>() / near.len() as f64
                    };
                    (key, s)
                })
                .collect();
            // Stable: ties keep their order, so sweeps settle.
            keyed.sort_by(|a, b| a.0.total_cmp(&b.0));
            order[row] = keyed.into_iter().map(|(_, s)| s).collect();
            for (i, &s) in order[row].iter().enumerate() {
                position[s] = i as f64;
            }
        }
        let count = crossings(order, down, &position);
        if count < fewest {
            fewest = count;
            best = order.to_vec();
        }
    }
    order.clone_from_slice(&best);
}

/// How many pairs of segments cross between each row and the next.
fn crossings(order: &[Vec<usize>], down: &[Vec<usize>], position: &[f64]) -> usize {
    let mut count = 0;
    for row in order {
        let segments: Vec<(f64, f64)> = row
            .iter()
            .flat_map(|&s| down[s].iter().map(move |&t| (position[s], position[t])))
            .collect();
        for (i, a) in segments.iter().enumerate() {
            for b in &segments[i + 1..] {
                if (a.0 - b.0) * (a.1 - b.1) < 0.0 {
                    count += 1;
                }
            }
        }
    }
    count
}

/// The room between two slots side by side.
fn gap(a: &Slot, b: &Slot) -> f64 {
    let spacing = match (a.kind, b.kind) {
        (Kind::Node(_), _) | (_, Kind::Node(_)) => GAP_BOX,
        _ => GAP_POINT,
    };
    a.right + spacing + b.left
}

/// Sets each slot's centre line: packed left to right first, then swept down and up
/// towards the mean of its neighbours, keeping the gaps.
fn place(slots: &mut [Slot], order: &[Vec<usize>], up: &[Vec<usize>], down: &[Vec<usize>]) {
    for row in order {
        let mut x = 0.0;
        for (i, &s) in row.iter().enumerate() {
            if i > 0 {
                x += gap(&slots[row[i - 1]], &slots[s]);
            }
            slots[s].x = x;
        }
    }
    for sweep in 0..SWEEPS * 2 {
        // The last sweeps look both ways, so a box settles between its parents and children.
        let both = sweep >= SWEEPS * 2 - 2;
        let downward = sweep % 2 == 0;
        let rows: Vec<usize> = if downward {
            (1..order.len()).collect()
        } else {
            (0..order.len().saturating_sub(1)).rev().collect()
        };
        for row in rows {
            let targets: Vec<(f64, f64)> = order[row]
                .iter()
                .map(|&s| {
                    let near: Vec<usize> = match (both, downward) {
                        (true, _) => up[s].iter().chain(&down[s]).copied().collect(),
                        (false, true) => up[s].clone(),
                        (false, false) => down[s].clone(),
                    };
                    if near.is_empty() {
                        (slots[s].x, 0.1)
                    } else {
                        let mean =
                            near.iter().map(|&t| slots[t].x).sum::<f64>() / near.len() as f64;
                        // An edge's points weigh more: long edges are drawn straight.
                        let weight =
                            if matches!(slots[s].kind, Kind::Point(_)) { 4.0 } else { 1.0 };
                        (mean, weight * near.len() as f64)
                    }
                })
                .collect();
            let gaps: Vec<f64> =
                order[row].windows(2).map(|pair| gap(&slots[pair[0]], &slots[pair[1]])).collect();
            for (&s, x) in order[row].iter().zip(spaced(&targets, &gaps)) {
                slots[s].x = x;
            }
        }
    }
}

/// The positions nearest (in weighted squares) to `targets` that keep at least `gaps[i]`
/// between the `i`th and the next: with each gap taken out this is an isotonic regression,
/// which pooling adjacent violators solves exactly.
fn spaced(targets: &[(f64, f64)], gaps: &[f64]) -> Vec<f64> {
    let mut offsets = Vec::with_capacity(targets.len());
    let mut offset = 0.0;
    for i in 0..targets.len() {
        if i > 0 {
            offset += gaps[i - 1];
        }
        offsets.push(offset);
    }
    // Blocks of (mean, weight, count), merged while a block's mean is below its left one's.
    let mut blocks: Vec<(f64, f64, usize)> = Vec::new();
    for (i, &(target, weight)) in targets.iter().enumerate() {
        blocks.push((target - offsets[i], weight, 1));
        while blocks.len() > 1 {
            let (b_mean, b_weight, b_count) = blocks[blocks.len() - 1];
            let (a_mean, a_weight, a_count) = blocks[blocks.len() - 2];
            if a_mean <= b_mean {
                break;
            }
            blocks.pop();
            let weight = a_weight + b_weight;
            let last = blocks.len() - 1;
            blocks[last] =
                ((a_mean * a_weight + b_mean * b_weight) / weight, weight, a_count + b_count);
        }
    }
    let mut out = Vec::with_capacity(targets.len());
    for (mean, _, count) in blocks {
        for _ in 0..count {
            out.push(mean + offsets[out.len()]);
        }
    }
    out
}

/// Where each edge leaves its top box and enters its bottom box: spread along the box's
/// bottom (top) in the order of where they go next, so edges between the same two boxes
/// stay apart.
struct Ports {
    /// Per edge: its point on the bottom of its top box.
    bottom: Vec<(f64, f64)>,
    /// Per edge: its point on the top of its bottom box.
    top: Vec<(f64, f64)>,
}

impl Ports {
    fn of(slots: &[Slot], chains: &[Option<Chain>], nodes: &[Rect]) -> Ports {
        let mut bottom = vec![(0.0, 0.0); chains.len()];
        let mut top = vec![(0.0, 0.0); chains.len()];
        for (node, rect) in nodes.iter().enumerate() {
            // (where the edge goes next, edge) for the edges leaving downward, and arriving.
            let mut leaving: Vec<(f64, usize)> = Vec::new();
            let mut arriving: Vec<(f64, usize)> = Vec::new();
            for (edge, chain) in chains.iter().enumerate() {
                let Some(chain) = chain else { continue };
                let last = chain.slots.len() - 1;
                if chain.slots[0] == node {
                    leaving.push((slots[chain.slots[1]].x, edge));
                }
                if chain.slots[last] == node {
                    arriving.push((slots[chain.slots[last - 1]].x, edge));
                }
            }
            for (list, y, out) in
                [(&mut leaving, rect.y + rect.h, &mut bottom), (&mut arriving, rect.y, &mut top)]
            {
                list.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                let k = list.len() as f64;
                for (i, &(_, edge)) in list.iter().enumerate() {
                    // Within the middle four fifths of the side: clear of the rounded corners.
                    let x = rect.x + rect.w * (0.1 + 0.8 * (i as f64 + 1.0) / (k + 1.0));
                    out[edge] = (x, y);
                }
            }
        }
        Ports { bottom, top }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spacing_keeps_gaps_and_stays_near_targets() {
        assert_eq!(spaced(&[(0.0, 1.0), (100.0, 1.0)], &[10.0]), vec![0.0, 100.0]);
        // Both want 50: pushed apart evenly around it.
        assert_eq!(spaced(&[(50.0, 1.0), (50.0, 1.0)], &[20.0]), vec![40.0, 60.0]);
        // A heavy one moves less.
        let heavy = spaced(&[(50.0, 3.0), (50.0, 1.0)], &[20.0]);
        assert_eq!(heavy, vec![45.0, 65.0]);
        assert!(spaced(&[], &[]).is_empty());
    }

    #[test]
    fn a_cycle_and_a_loop_are_drawn_down_with_every_edge_routed() {
        let graph = Graph {
            sizes: vec![(80.0, 40.0); 3],
            edges: vec![
                Edge { from: 0, to: 1, label: Some((20.0, 12.0)) },
                Edge { from: 1, to: 2, label: None },
                Edge { from: 2, to: 0, label: Some((30.0, 12.0)) },
                Edge { from: 1, to: 1, label: Some((40.0, 12.0)) },
            ],
            start: 0,
        };
        let drawn = layout(&graph);
        assert!(drawn.nodes[0].y < drawn.nodes[1].y && drawn.nodes[1].y < drawn.nodes[2].y);
        for (edge, route) in graph.edges.iter().zip(&drawn.edges) {
            assert!(route.points.len() >= 2);
            let (first, last) = (route.points[0], route.points[route.points.len() - 1]);
            let (from, to) = (drawn.nodes[edge.from], drawn.nodes[edge.to]);
            assert!(on_border(from, first) && on_border(to, last), "{first:?} {last:?}");
            assert_eq!(route.label.is_some(), edge.label.is_some());
        }
        // The way back starts at the bottom box and arrives at the top one.
        assert_eq!(drawn.edges[2].points[0].1, drawn.nodes[2].y);
    }

    fn on_border(r: Rect, (x, y): (f64, f64)) -> bool {
        let near = |a: f64, b: f64| (a - b).abs() < 1e-6;
        let within = |v: f64, lo: f64, hi: f64| v >= lo - 1e-6 && v <= hi + 1e-6;
        ((near(y, r.y) || near(y, r.y + r.h)) && within(x, r.x, r.x + r.w))
            || ((near(x, r.x) || near(x, r.x + r.w)) && within(y, r.y, r.y + r.h))
    }
}
