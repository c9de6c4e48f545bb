//! The WIS2 Topic Hierarchy.
