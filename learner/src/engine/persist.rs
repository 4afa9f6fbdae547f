//! The engine's state in an index snapshot: the trajectory store's section (the index crate's
//! format) and the policy's learned state as the section `vecgate.learner.<policy>`.
//!
//! The section name carries the policy, so a gateway restarted with another policy simply finds
//! no section of its own and starts cold, instead of failing on foreign bytes.

use std::sync::Arc;

use vecgate_index::IndexError;
use vecgate_index::embed::{Embedder, HashingEmbedder};
use vecgate_index::snapshot::{
    GRAPH_SECTION, STORE_SECTION, Section, Snapshot, graph_section, restore_store_with_graph,
    store_section,
};
use vecgate_index::store::StoreConfig;

use super::{Engine, EngineConfig};
use crate::error::LearnerError;
use crate::learn::snapshot::FORMAT_VERSION;
use crate::policy::PolicyConfig;

/// Prefix of the learner's section name; the policy's name follows.
pub const LEARNER_SECTION_PREFIX: &str = "vecgate.learner.";

impl Engine {
    /// The name of this engine's learner section.
    pub fn learner_section_name(&self) -> String {
        format!("{LEARNER_SECTION_PREFIX}{}", self.policy.name())
    }

    /// The policy's learned state as a snapshot section.
    pub fn learner_section(&self) -> Section {
        Section {
            name: self.learner_section_name(),
            version: FORMAT_VERSION,
            bytes: self.policy.snapshot(),
        }
    }

    /// A snapshot of the store and the learner (flush the store first for a complete graph).
    pub fn snapshot(&self) -> Result<Snapshot, LearnerError> {
        let mut snap = Snapshot::new();
        // The graph first, so the store section covers every entry it does.
        let graph = graph_section(&self.store).map_err(IndexError::from)?;
        snap.put(store_section(&self.store, self.embedder.id()).map_err(IndexError::from)?);
        if let Some(graph) = graph {
            snap.put(graph);
        }
        snap.put(self.learner_section());
        Ok(snap)
    }

    /// Restores the policy's learned state from `snap`. Returns false when the snapshot has no
    /// section for this policy (the policy stays cold).
    pub fn restore_learner(&self, snap: &Snapshot) -> Result<bool, LearnerError> {
        let Some(section) = snap.section(&self.learner_section_name()) else {
            return Ok(false);
        };
        if section.version != FORMAT_VERSION {
            return Err(LearnerError::Snapshot {
                policy: self.policy.name(),
                reason: format!(
                    "section version {}, this build reads {FORMAT_VERSION}",
                    section.version
                ),
            });
        }
        self.policy.restore(&section.bytes)?;
        Ok(true)
    }

    /// An engine warm-started from `snap`: the store from its section (cold if absent), then
    /// the learner (cold if no section for the configured policy).
    pub fn from_snapshot(
        policy: &PolicyConfig,
        store: StoreConfig,
        cfg: EngineConfig,
        snap: &Snapshot,
    ) -> Result<Engine, LearnerError> {
        let embedder = Arc::new(HashingEmbedder::new(store.dim));
        let store = match snap.section(STORE_SECTION) {
            Some(section) => {
                restore_store_with_graph(section, snap.section(GRAPH_SECTION), store, embedder.id())
                    .map_err(IndexError::from)?
            }
            None => vecgate_index::store::TrajectoryStore::new(store).map_err(IndexError::from)?,
        };
        let engine = Engine::new(embedder, Arc::new(store), policy.build()?, cfg)?;
        engine.restore_learner(snap)?;
        Ok(engine)
    }
}
