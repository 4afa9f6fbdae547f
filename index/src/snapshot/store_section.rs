//! The trajectory store's snapshot section: entries (vectors, tombstones) and statistics.
//!
//! The HNSW graph has a section of its own ([`super::GRAPH_SECTION`]); without it a restored
//! store serves searches at once with the flat scan and its indexer rebuilds the graph in the
//! background. Entry ids are preserved, tombstones included, so a saved graph's node ids stay
//! valid.

use crate::error::SnapshotError;
use crate::store::{ReplicaStat, StoreConfig, TrajectoryStore};
use crate::store::{StatRow, View};

use super::Section;

/// Name of the store's section.
pub const STORE_SECTION: &str = "vecgate.store";
/// Layout version of the store's section.
pub const STORE_SECTION_VERSION: u32 = 1;

#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
struct StoreImage {
    embedder: String,
    dim: u32,
    len: u32,
    /// Row-major vectors, `len × dim`.
    vectors: Vec<f32>,
    /// Tombstoned entry ids.
    dead: Vec<u32>,
    /// `stat_start[e]..stat_start[e + 1]` are entry `e`'s rows in `stats` (`len + 1` values).
    stat_start: Vec<u32>,
    stats: Vec<StatImage>,
}

#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
struct StatImage {
    pool: u32,
    replica: u32,
    mean_ms: f32,
    count: u32,
    failures: u32,
    last_seen_ms: u64,
    mean_result_bytes: f32,
}

fn refuse(reason: String) -> SnapshotError {
    SnapshotError::Section {
        section: STORE_SECTION.into(),
        reason,
    }
}

/// Encodes `store` (vectors made by the embedder `embedder_id`) as a snapshot section.
pub fn store_section(store: &TrajectoryStore, embedder_id: &str) -> Result<Section, SnapshotError> {
    let view = store.view();
    let dim = view.dim;
    let mut image = StoreImage {
        embedder: embedder_id.to_owned(),
        dim: dim as u32,
        len: view.len,
        vectors: Vec::with_capacity(view.len as usize * dim),
        dead: Vec::new(),
        stat_start: Vec::with_capacity(view.len as usize + 1),
        stats: Vec::new(),
    };
    for entry in 0..view.len {
        image.vectors.extend_from_slice(view.row(entry));
        if view.is_dead(entry) {
            image.dead.push(entry);
        }
        image.stat_start.push(image.stats.len() as u32);
        for StatRow { pool, stat } in view.export_stats(entry) {
            image.stats.push(StatImage {
                pool,
                replica: stat.replica,
                mean_ms: stat.mean_ms,
                count: stat.count,
                failures: stat.failures,
                last_seen_ms: stat.last_seen_ms,
                mean_result_bytes: stat.mean_result_bytes,
            });
        }
    }
    image.stat_start.push(image.stats.len() as u32);
    let bytes = rkyv::to_bytes::<rkyv::rancor::Error>(&image)
        .map_err(|e| SnapshotError::Encode(e.to_string()))?;
    Ok(Section {
        name: STORE_SECTION.into(),
        version: STORE_SECTION_VERSION,
        bytes: bytes.to_vec(),
    })
}

/// Rebuilds a store from its section. Refuses a section of another layout version, another
/// embedder or another dimension than `config.dim`, or with inconsistent contents. The graph
/// is rebuilt by the store's indexer; [`restore_store_with_graph`] reuses a saved one.
pub fn restore_store(
    section: &Section,
    config: StoreConfig,
    embedder_id: &str,
) -> Result<TrajectoryStore, SnapshotError> {
    restore_store_with_graph(section, None, config, embedder_id)
}

/// [`restore_store`], then the saved graph ([`super::GRAPH_SECTION`]) when there is one and
/// it fits `config` (else the graph is rebuilt, as without it).
pub fn restore_store_with_graph(
    section: &Section,
    graph: Option<&Section>,
    config: StoreConfig,
    embedder_id: &str,
) -> Result<TrajectoryStore, SnapshotError> {
    if section.name != STORE_SECTION {
        return Err(refuse(format!("got section {:?}", section.name)));
    }
    let aligned = super::aligned_bytes(section, STORE_SECTION_VERSION, refuse)?;
    let image = rkyv::from_bytes::<StoreImage, rkyv::rancor::Error>(&aligned)
        .map_err(|e| refuse(format!("invalid archive: {e}")))?;
    if image.embedder != embedder_id {
        return Err(refuse(format!(
            "vectors come from embedder {:?}, this gateway embeds with {embedder_id:?}",
            image.embedder
        )));
    }
    let (dim, len) = (image.dim as usize, image.len as usize);
    if dim != config.dim {
        return Err(refuse(format!(
            "dimension {dim}, store configured for {}",
            config.dim
        )));
    }
    if image.vectors.len() != len * dim
        || image.stat_start.len() != len + 1
        || image.stat_start.windows(2).any(|w| w[0] > w[1])
        || image.stat_start.last().copied() != Some(image.stats.len() as u32)
        || image.dead.iter().any(|&d| d as usize >= len)
    {
        return Err(refuse("inconsistent lengths".into()));
    }
    if let Some(entry) = image
        .vectors
        .chunks_exact(dim)
        .position(|row| crate::store::check_vector(row, dim).is_err())
    {
        return Err(refuse(format!("entry {entry} is not a finite unit vector")));
    }
    let mut view = View::from_rows(dim, &image.vectors);
    for entry in 0..len {
        let rows =
            &image.stats[image.stat_start[entry] as usize..image.stat_start[entry + 1] as usize];
        view.import_stats(
            entry as u32,
            rows.iter().map(|s| StatRow {
                pool: s.pool,
                stat: ReplicaStat {
                    replica: s.replica,
                    mean_ms: s.mean_ms,
                    count: s.count,
                    failures: s.failures,
                    last_seen_ms: s.last_seen_ms,
                    mean_result_bytes: s.mean_result_bytes,
                },
            }),
        );
    }
    for &d in &image.dead {
        view.mark_dead(d);
    }
    if let Some(graph) = graph {
        super::graph_section::install_graph(graph, &config, &mut view)?;
    }
    TrajectoryStore::from_view(config, view).map_err(|e| refuse(e.to_string()))
}
