//! IVR scripts: the language choice and one conversation per language, loaded from
//! `ivr-scripts/` and validated before any caller hears them.

mod model;

pub use model::*;
