//! wis2-publish
