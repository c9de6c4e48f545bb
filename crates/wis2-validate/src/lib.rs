//! wis2-validate
