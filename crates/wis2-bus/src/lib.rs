//! wis2-bus
