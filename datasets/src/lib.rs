//! The trajectory dataset format, validator and generators.
