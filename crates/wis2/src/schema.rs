//! The authoritative JSON Schema files (WNM, WCMP2), read and compiled the one way
//! both suites need, with errors that name the file and say how to fix it.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// How a suite's load errors name its schema and tell how to fix each failure.
#[derive(Debug)]
pub struct SchemaTexts {
    /// The schema as a message names it (`the WNM schema`, `WCMP2 schema`).
    pub name: &'static str,
    pub read_fix: &'static str,
    pub json_fix: &'static str,
    /// What a schema that does not compile is said to fail (`does not compile`).
    pub not_compiled: &'static str,
    pub compile_fix: &'static str,
}

/// A schema file that could not be read, parsed or compiled.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("cannot read {} {path}: {source} (fix: {})", texts.name, texts.read_fix)]
    Read {
        texts: &'static SchemaTexts,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} {path} is not JSON: {source} (fix: {})", texts.name, texts.json_fix)]
    Json {
        texts: &'static SchemaTexts,
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{} {path} {}: {reason} (fix: {})", texts.name, texts.not_compiled, texts.compile_fix)]
    Compile {
        texts: &'static SchemaTexts,
        path: PathBuf,
        reason: String,
    },
}

/// Reads the schema at `path`, lets `repair` mend the document in memory (the file is
/// not changed), and compiles it: Draft 2020-12, formats asserted, no remote
/// references (the bundled schemas are self-contained).
pub(crate) fn compile_file(
    path: &Path,
    texts: &'static SchemaTexts,
    repair: impl FnOnce(&mut Value) -> Result<(), String>,
) -> Result<jsonschema::Validator, SchemaError> {
    let path = path.to_path_buf();
    let text = match std::fs::read(&path) {
        Ok(text) => text,
        Err(source) => {
            return Err(SchemaError::Read {
                texts,
                path,
                source,
            });
        }
    };
    let mut doc: Value = match serde_json::from_slice(&text) {
        Ok(doc) => doc,
        Err(source) => {
            return Err(SchemaError::Json {
                texts,
                path,
                source,
            });
        }
    };
    let compiled = repair(&mut doc).and_then(|()| {
        jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .should_validate_formats(true)
            .build(&doc)
            .map_err(|e| e.to_string())
    });
    compiled.map_err(|reason| SchemaError::Compile {
        texts,
        path,
        reason,
    })
}
