//! The store's HNSW graph in a snapshot, so a restored store searches its graph at once instead
//! of rebuilding it (at 1M entries with the default parameters the rebuild takes ~17 minutes on
//! 2 cores, and the flat scan meanwhile costs ~26 ms per search).
//!
//! A section of its own, [`GRAPH_SECTION`], beside [`super::STORE_SECTION`]: snapshots written
//! before it existed restore as they did (the graph is rebuilt), and a graph that does not fit
//! the store it is restored into (other HNSW parameters, the `hnsw_rs` backend, more entries
//! than the store section holds) is left out the same way. Only the native graph is written,
//! and only when the indexer is idle (the writer waits up to [`GRAPH_SNAPSHOT_WAIT`] for it).

use crate::error::SnapshotError;
use crate::store::{
    Crossover, Graph, GraphBackend, GraphParts, HnswParams, Mode, NativeGraph, StoreConfig,
    TrajectoryStore, View,
};
use std::sync::Arc;

use super::Section;

/// Name of the graph's section.
pub const GRAPH_SECTION: &str = "vecgate.store.graph";
/// Layout version of the graph's section.
pub const GRAPH_SECTION_VERSION: u32 = 1;

#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
struct GraphImage {
    max_connections: u32,
    ef_construction: u32,
    /// Entries `0..graph_len` are covered by the graph.
    graph_len: u32,
    dead_in_graph: u32,
    /// Whether searches used the graph (the auto crossover's choice).
    searched: bool,
    capacity: u32,
    links0: Vec<u32>,
    upper_at: Vec<u32>,
    upper: Vec<u32>,
    upper_used: u32,
    entry: u64,
    nodes: u32,
}

fn refuse(reason: String) -> SnapshotError {
    SnapshotError::Section {
        section: GRAPH_SECTION.into(),
        reason,
    }
}

/// How long [`graph_section`] waits for the store's indexer to finish a step.
pub const GRAPH_SNAPSHOT_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Encodes `store`'s graph, or `None` when it has no native graph or its indexer stays busy
/// for [`GRAPH_SNAPSHOT_WAIT`]. Take it *before* [`super::store_section`], so the store
/// section covers every entry the graph does.
pub fn graph_section(store: &TrajectoryStore) -> Result<Option<Section>, SnapshotError> {
    let Some((view, parts)) = store.graph_parts(GRAPH_SNAPSHOT_WAIT) else {
        return Ok(None);
    };
    let params = store_params(&view);
    let image = GraphImage {
        max_connections: params.max_connections as u32,
        ef_construction: params.ef_construction as u32,
        graph_len: view.graph_len,
        dead_in_graph: view.dead_in_graph,
        searched: view.mode == Mode::Graph,
        capacity: parts.capacity,
        links0: parts.links0,
        upper_at: parts.upper_at,
        upper: parts.upper,
        upper_used: parts.upper_used,
        entry: parts.entry,
        nodes: parts.nodes,
    };
    let bytes = rkyv::to_bytes::<rkyv::rancor::Error>(&image)
        .map_err(|e| SnapshotError::Encode(e.to_string()))?;
    Ok(Some(Section {
        name: GRAPH_SECTION.into(),
        version: GRAPH_SECTION_VERSION,
        bytes: bytes.to_vec(),
    }))
}

fn store_params(view: &View) -> HnswParams {
    match view.graph.as_deref() {
        Some(Graph::Native(g)) => *g.params(),
        _ => HnswParams::default(),
    }
}

/// Puts the graph of `section` into `view` (restored from the store section) when it fits
/// `config`; returns whether it did. Refuses a section of another layout version or with
/// arrays that do not fit together.
pub(crate) fn install_graph(
    section: &Section,
    config: &StoreConfig,
    view: &mut View,
) -> Result<bool, SnapshotError> {
    let aligned = super::aligned_bytes(section, GRAPH_SECTION_VERSION, refuse)?;
    let image = rkyv::from_bytes::<GraphImage, rkyv::rancor::Error>(&aligned)
        .map_err(|e| refuse(format!("invalid archive: {e}")))?;
    let fits = config.graph == GraphBackend::Native
        && config.crossover != Crossover::FlatOnly
        && image.max_connections as usize == config.hnsw.max_connections
        && image.ef_construction as usize == config.hnsw.ef_construction
        && image.graph_len <= view.len;
    if !fits {
        return Ok(false);
    }
    let parts = GraphParts {
        capacity: image.capacity,
        links0: image.links0,
        upper_at: image.upper_at,
        upper: image.upper,
        upper_used: image.upper_used,
        entry: image.entry,
        nodes: image.nodes,
    };
    let graph = NativeGraph::from_parts(&config.hnsw, parts).map_err(refuse)?;
    view.graph = Some(Arc::new(Graph::Native(graph)));
    view.graph_len = image.graph_len;
    view.dead_in_graph = image.dead_in_graph.min(view.dead);
    view.mode = match config.crossover {
        Crossover::Fixed(_) => Mode::Graph,
        _ if image.searched => Mode::Graph,
        _ => Mode::Flat,
    };
    Ok(true)
}
