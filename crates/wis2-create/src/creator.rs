//! [`Creator`]: the message of one file, read and hashed once (streaming), its time
//! and place from [`wis2::formats`]; the messages of WCMP2 records and of file events.

use std::fs::File;
use std::path::{Path, PathBuf};

use wis2::event::{CloudEvent, FileChange, FileData};
use wis2::formats;
use wis2::message::{MessageSpec, Notification, Relation, Temporal, data_id_for, public_href};
use wis2::path::RelPath;

use crate::settings::CreateSettings;
use crate::{content, digest};

/// The largest message the WNM allows, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 8192;

/// Files up to this size are read whole into memory, once, for the digest, the
/// format reader and the inline content (larger ones are streamed through the
/// digest, then opened again for their header and values). At most this much per
/// file being handled (`--concurrency` of them).
pub const READ_WHOLE_MAX: usize = 256 * 1024;

/// Why a message could not be built.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("{path}: {source}; check that the file exists under WIS2_DATA_DIR and is readable")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path} is a {kind}, not a regular file: only regular files are published; name a file in the event (wis2-watch announces each file of a directory, and never FIFOs, sockets or devices)"
    )]
    NotAFile { path: String, kind: &'static str },
    #[error(
        "{0} no longer exists (removed or renamed after its event was sent): there is nothing to publish; if it comes back, wis2-watch announces it again"
    )]
    Gone(String),
    #[error(
        "{0} is empty (0 bytes): there is nothing to publish; the producer probably failed, send the complete file (write it under a temporary name and rename it when complete)"
    )]
    Empty(String),
    #[error(
        "the name of {0} is not valid UTF-8: a WIS2 data_id is text and a WMO file name is ASCII; rename the file"
    )]
    NotUtf8(String),
    #[error(
        "{0} resolves outside the data directory {1}: only files under WIS2_DATA_DIR are published; copy the file into the data directory instead of linking to it"
    )]
    Outside(String, String),
    #[error("{0} changed while it was being hashed ({1}); it is announced again once complete")]
    Changed(String, String),
    #[error(
        "the topic's centre id `{topic_centre}` differs from WIS2_CENTRE_ID `{centre}`: set WIS2_TOPIC to origin/a/wis2/{centre}/data/... or fix WIS2_CENTRE_ID"
    )]
    CentreMismatch {
        topic_centre: String,
        centre: String,
    },
    #[error("{0}")]
    Event(#[from] wis2::event::EventError),
    #[error(transparent)]
    Format(#[from] formats::FormatError),
    #[error("{0}")]
    Stac(#[from] wis2::stac::StacError),
    #[error("asset href `{href}` is not usable: {reason}")]
    Href { href: String, reason: String },
    #[error("metadata record {0}: {1}")]
    Metadata(String, wis2::metadata::MetadataError),
    #[error("metadata record {0} is {1} bytes: a WCMP2 record is at most 1 MiB")]
    RecordTooLarge(String, u64),
    #[error(
        "the deletion of metadata record {0} does not say the record's id: wis2-watch keeps it for records it announced; announce the record before deleting it"
    )]
    DeletionWithoutRecordId(String),
}

/// What a file that is not a regular file is, for the reasons of errors.
fn file_kind(meta: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let ft = meta.file_type();
    if ft.is_dir() {
        "directory"
    } else if ft.is_fifo() {
        "FIFO (named pipe)"
    } else if ft.is_socket() {
        "socket"
    } else if ft.is_block_device() {
        "block device"
    } else if ft.is_char_device() {
        "character device"
    } else {
        "special file"
    }
}

/// Builds messages for files under a data directory.
#[derive(Debug, Clone)]
pub struct Creator {
    pub(crate) settings: CreateSettings,
    pub(crate) data_root: PathBuf,
    pub(crate) formats: formats::Options,
}

impl Creator {
    /// Checks the settings (topic centre id against WIS2_CENTRE_ID, data directory).
    pub fn new(settings: CreateSettings) -> Result<Self, CreateError> {
        Self::check_centre(&settings)?;
        let data_root = settings
            .data_dir
            .canonicalize()
            .map_err(|source| CreateError::Io {
                path: settings.data_dir.display().to_string(),
                source,
            })?;
        Ok(Creator {
            formats: settings.format_options(),
            settings,
            data_root,
        })
    }

    /// Like [`Creator::new`], but a data directory that does not exist is accepted:
    /// STAC events are then turned into messages from the item alone (no local copy
    /// to check), and file events fail as their file is not found. For the one-shot
    /// `event` command.
    pub fn for_events(settings: CreateSettings) -> Result<Self, CreateError> {
        match Self::new(settings.clone()) {
            Err(CreateError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                let data_root =
                    std::path::absolute(&settings.data_dir).map_err(|source| CreateError::Io {
                        path: settings.data_dir.display().to_string(),
                        source,
                    })?;
                Ok(Creator {
                    formats: settings.format_options(),
                    settings,
                    data_root,
                })
            }
            other => other,
        }
    }

    fn check_centre(settings: &CreateSettings) -> Result<(), CreateError> {
        let topic_centre = settings.topic.centre_id();
        if topic_centre != settings.centre_id {
            return Err(CreateError::CentreMismatch {
                topic_centre: topic_centre.to_string(),
                centre: settings.centre_id.clone(),
            });
        }
        Ok(())
    }

    pub fn settings(&self) -> &CreateSettings {
        &self.settings
    }

    /// The path of `file` relative to the data directory, checking that it resolves
    /// inside it.
    pub fn relative_path(&self, file: &Path) -> Result<RelPath, CreateError> {
        let abs = if file.is_absolute() {
            file.to_path_buf()
        } else if file.exists() {
            std::env::current_dir()
                .map_err(|source| CreateError::Io {
                    path: ".".into(),
                    source,
                })?
                .join(file)
        } else {
            self.data_root.join(file)
        };
        let canon = abs.canonicalize().map_err(|source| CreateError::Io {
            path: file.display().to_string(),
            source,
        })?;
        let rel = canon.strip_prefix(&self.data_root).map_err(|_| {
            CreateError::Outside(
                file.display().to_string(),
                self.data_root.display().to_string(),
            )
        })?;
        let parts = rel
            .components()
            .map(|c| c.as_os_str().to_str())
            .collect::<Option<Vec<&str>>>()
            .ok_or_else(|| CreateError::NotUtf8(file.display().to_string()))?;
        RelPath::parse(&parts.join("/")).map_err(|_| {
            CreateError::Outside(
                file.display().to_string(),
                self.data_root.display().to_string(),
            )
        })
    }

    /// Whether `rel` is a WCMP2 record of the metadata folder.
    pub fn is_metadata(&self, rel: &RelPath) -> bool {
        let rel = rel.as_str();
        let dir = self.settings.metadata_dir.trim_matches('/');
        !dir.is_empty()
            && rel.strip_prefix(dir).is_some_and(|r| r.starts_with('/'))
            && rel.ends_with(".json")
    }

    /// The topic messages about `rel` go to: the metadata topic for records, the
    /// data topic otherwise.
    pub fn topic_for(&self, rel: &RelPath) -> String {
        if self.is_metadata(rel) {
            wis2::metadata::metadata_topic(&self.settings.centre_id)
        } else {
            self.settings.topic.to_string()
        }
    }

    /// The notification of a new or changed WCMP2 record, and the record itself.
    pub fn record_message(
        &self,
        rel: &RelPath,
        relation: Relation,
    ) -> Result<(Notification, String), CreateError> {
        let io = |source| CreateError::Io {
            path: rel.to_string(),
            source,
        };
        let canon = self.data_root.join(rel).canonicalize().map_err(io)?;
        if !canon.starts_with(&self.data_root) {
            return Err(CreateError::Outside(
                rel.to_string(),
                self.data_root.display().to_string(),
            ));
        }
        let meta = std::fs::metadata(&canon).map_err(io)?;
        if meta.len() > wis2::event::MAX_EVENT_BYTES as u64 {
            return Err(CreateError::RecordTooLarge(rel.to_string(), meta.len()));
        }
        let bytes = std::fs::read(&canon).map_err(io)?;
        let facts = wis2::metadata::RecordFacts::parse(&bytes)
            .map_err(|e| CreateError::Metadata(rel.to_string(), e))?;
        let integrity = digest::digest_bytes(self.settings.integrity, &bytes);
        let spec = wis2::metadata::spec_for_record(
            &self.settings.centre_id,
            &facts,
            public_href(&self.settings.base_url, rel),
            relation,
            bytes.len() as u64,
            integrity,
        )
        .map_err(|e| CreateError::Metadata(rel.to_string(), e))?;
        let record = String::from_utf8(bytes).map_err(|e| {
            CreateError::Metadata(
                rel.to_string(),
                wis2::metadata::MetadataError::NotJson(serde_json::Error::io(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    e,
                ))),
            )
        })?;
        Ok((Notification::build(spec), record))
    }

    /// The notification of a removed WCMP2 record whose id is `record_id`.
    pub fn record_deletion(
        &self,
        rel: &RelPath,
        record_id: Option<&str>,
    ) -> Result<Notification, CreateError> {
        let id = record_id.ok_or_else(|| CreateError::DeletionWithoutRecordId(rel.to_string()))?;
        let spec = wis2::metadata::spec_for_deletion(
            &self.settings.centre_id,
            id,
            public_href(&self.settings.base_url, rel),
        )
        .map_err(|e| CreateError::Metadata(rel.to_string(), e))?;
        Ok(Notification::build(spec))
    }

    /// Builds the message for a file (new or changed) given by its relative path.
    ///
    /// The file is read once: up to [`READ_WHOLE_MAX`] bytes (or the inline-content
    /// limit, when larger), read whole, then hashed, described and inlined from
    /// memory; larger, streamed through the digest (see [`digest`]), then opened
    /// again for its format's header and values.
    pub fn message_for(
        &self,
        rel: &RelPath,
        relation: Relation,
    ) -> Result<Notification, CreateError> {
        if self.is_metadata(rel) {
            return self.record_message(rel, relation).map(|(m, _)| m);
        }
        let io = |source: std::io::Error| {
            if source.kind() == std::io::ErrorKind::NotFound {
                CreateError::Gone(rel.to_string())
            } else {
                CreateError::Io {
                    path: rel.to_string(),
                    source,
                }
            }
        };
        let path = self.data_root.join(rel);
        let canon = path.canonicalize().map_err(io)?;
        if !canon.starts_with(&self.data_root) {
            return Err(CreateError::Outside(
                rel.to_string(),
                self.data_root.display().to_string(),
            ));
        }
        let before = std::fs::metadata(&canon).map_err(io)?;
        if !before.is_file() {
            return Err(CreateError::NotAFile {
                path: rel.to_string(),
                kind: file_kind(&before),
            });
        }
        if before.len() == 0 {
            return Err(CreateError::Empty(rel.to_string()));
        }
        let limit = content::limit(self.settings.inline_max_bytes);
        let file = File::open(&canon).map_err(io)?;
        let whole_max = READ_WHOLE_MAX.max(limit);
        let (digested, small) = if before.len() <= whole_max as u64 {
            let mut bytes = Vec::with_capacity(before.len() as usize + 1);
            // One byte more than allowed tells a file that grew.
            std::io::Read::read_to_end(
                &mut std::io::Read::take(file, whole_max as u64 + 1),
                &mut bytes,
            )
            .map_err(io)?;
            let d = wis2::hash::Digested {
                integrity: digest::digest_bytes(self.settings.integrity, &bytes),
                length: bytes.len() as u64,
            };
            (d, Some(bytes))
        } else {
            let d =
                digest::digest_reader(self.settings.integrity, file, before.len()).map_err(io)?;
            (d, None)
        };
        let after = std::fs::metadata(&canon).map_err(io)?;
        if after.len() != digested.length
            || before.len() != after.len()
            || before.modified().ok() != after.modified().ok()
        {
            return Err(CreateError::Changed(
                rel.to_string(),
                format!("{} bytes read, {} bytes now", digested.length, after.len()),
            ));
        }
        // A file read whole is described from memory: one open and one read in all.
        let facts = match &small {
            Some(bytes) => formats::describe_loaded(&canon, bytes, &self.formats)?,
            None => formats::describe_with(&canon, &self.formats)?,
        };
        let content = small
            .as_deref()
            .filter(|b| content::may_fit(b.len() as u64, limit))
            .and_then(|b| content::inline(b, Some(&facts.media_type), limit));
        Ok(self.build(MessageSpec {
            data_id: data_id_for(self.settings.topic.as_str(), rel),
            metadata_id: Some(self.settings.metadata_id.clone()),
            href: public_href(&self.settings.base_url, rel),
            media_type: Some(facts.media_type),
            length: Some(digested.length),
            integrity: Some(digested.integrity),
            temporal: facts.temporal,
            geometry: facts.geometry,
            relation,
            content,
            ..Default::default()
        }))
    }

    /// Builds the message; inline content that would take the message over 8192
    /// bytes (text with much JSON escaping) is left out.
    pub(crate) fn build(&self, spec: MessageSpec) -> Notification {
        if spec.content.is_none() {
            return Notification::build(spec);
        }
        let msg = Notification::build(spec.clone());
        if msg.to_json().len() <= MAX_MESSAGE_BYTES {
            return msg;
        }
        tracing::info!(
            data_id = spec.data_id,
            "inline content left out: the message would be over 8192 bytes"
        );
        Notification::build(MessageSpec {
            content: None,
            ..spec
        })
    }

    /// The deletion message of a file that is gone.
    pub fn deletion_for(&self, rel: &RelPath) -> Result<Notification, CreateError> {
        Ok(Notification::build(MessageSpec {
            data_id: data_id_for(self.settings.topic.as_str(), rel),
            metadata_id: Some(self.settings.metadata_id.clone()),
            href: public_href(&self.settings.base_url, rel),
            media_type: Some(
                self.formats
                    .media_types
                    .sniff(&[], rel.as_ref())
                    .to_string(),
            ),
            temporal: Temporal::Unknown,
            relation: Relation::Deletion,
            ..Default::default()
        }))
    }

    /// The message for a file event.
    pub fn message_for_event(&self, ev: &CloudEvent) -> Result<Notification, CreateError> {
        self.envelope_parts(ev).map(|(m, _)| m)
    }

    /// The message for a file event and, for a metadata record, the record.
    pub fn envelope_parts(
        &self,
        ev: &CloudEvent,
    ) -> Result<(Notification, Option<String>), CreateError> {
        let (change, data) = ev.file_event()?;
        self.file_parts(change, &data)
    }

    /// The message for a file event's change and data and, for a metadata record,
    /// the record.
    pub fn file_parts(
        &self,
        change: FileChange,
        data: &FileData,
    ) -> Result<(Notification, Option<String>), CreateError> {
        let relation = match change {
            FileChange::Created => Relation::Canonical,
            FileChange::Updated => Relation::Update,
            FileChange::Deleted => Relation::Deletion,
        };
        if self.is_metadata(&data.path) {
            return match relation {
                Relation::Deletion => self
                    .record_deletion(&data.path, data.record_id.as_deref())
                    .map(|m| (m, None)),
                r => self
                    .record_message(&data.path, r)
                    .map(|(m, rec)| (m, Some(rec))),
            };
        }
        match relation {
            Relation::Deletion => self.deletion_for(&data.path).map(|m| (m, None)),
            r => self.message_for(&data.path, r).map(|m| (m, None)),
        }
    }
}
