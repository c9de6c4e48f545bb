//! # wis2-create: file events in, WIS2 notification messages out
//!
//! [`Creator`] builds the message for one file (reads and hashes it once, streaming;
//! asks [`wis2::formats`] for time and place). [`run`] is the service: it handles the
//! CloudEvents of `wis2-watch`, and upstream CloudEvents carrying a STAC Item (see
//! [`stac`]), and publishes an [`Envelope`] per message for `wis2-validate`.
//!
//! Options beyond the basics: the integrity method (`--integrity`), inline content for
//! small files (`--inline-max-bytes`, see [`content`]) and the extension → media type
//! table (`--media-type EXT=TYPE`, used when the content has no magic number).

use std::fs::File;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;
use wis2::event::{CloudEvent, FileChange};
use wis2::formats;
use wis2::hash::Method;
use wis2::message::{MessageSpec, Notification, Relation, Temporal, data_id_for, public_href};
use wis2_bus::envelope::Envelope;
use wis2_bus::{BrokerArgs, Bus, Delivery, Failure, Handler, Output, StageConfig};

pub mod content;
pub mod digest;
pub mod stac;

/// The largest message the WNM allows, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 8192;

/// Files up to this size are read whole into memory, once, for the digest, the
/// format reader and the inline content (larger ones are streamed through the
/// digest, then opened again for their header and values). At most this much per
/// file being handled (`--concurrency` of them).
pub const READ_WHOLE_MAX: usize = 256 * 1024;

/// The default WIS2 topic: Argo profiles of Ifremer.
pub const DEFAULT_TOPIC: &str = "origin/a/wis2/fr-ifremer-argo/data/core/ocean/surface-based-observations/drifting-ocean-profilers";

/// What every message needs to know about the centre and the dataset.
#[derive(Debug, Clone, Args)]
pub struct CreateSettings {
    /// Directory the data files live in; paths in events are relative to it.
    #[arg(long = "data-dir", env = "WIS2_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,

    /// Public URL prefix of the data directory (links are this + the relative path).
    #[arg(
        long = "base-url",
        env = "WIS2_BASE_URL",
        default_value = "http://localhost:8080/data"
    )]
    pub base_url: String,

    /// WIS2 centre id (level 4 of the topic).
    #[arg(
        long = "centre-id",
        env = "WIS2_CENTRE_ID",
        default_value = "fr-ifremer-argo"
    )]
    pub centre_id: String,

    /// WCMP2 record id of the dataset (`properties.metadata_id`).
    #[arg(
        long = "metadata-id",
        env = "WIS2_METADATA_ID",
        default_value = "urn:wmo:md:fr-ifremer-argo:cor:msg:argo"
    )]
    pub metadata_id: String,

    /// WIS2 topic the data are published on.
    #[arg(long = "topic", env = "WIS2_TOPIC", default_value = DEFAULT_TOPIC)]
    pub topic: String,

    /// Integrity method: sha256, sha384, sha512, sha3-256, sha3-384 or sha3-512.
    #[arg(
        long = "integrity",
        env = "WIS2_INTEGRITY_METHOD",
        default_value = "sha512"
    )]
    pub integrity: Method,

    /// Inline the data of small files in `properties.content` when the encoded value
    /// is at most this many bytes (capped at 4096, the WNM limit); 0 = never.
    #[arg(
        long = "inline-max-bytes",
        env = "WIS2_INLINE_MAX_BYTES",
        default_value_t = 0
    )]
    pub inline_max_bytes: usize,

    /// Media type of an extension, for content without a magic number: EXT=TYPE,
    /// repeatable (environment: comma-separated, `nc=application/x-netcdf,bin=application/bufr`).
    /// Adds to or overrides the built-in table; content sniffing comes first.
    #[arg(
        long = "media-type",
        env = "WIS2_MEDIA_TYPES",
        value_name = "EXT=TYPE",
        value_delimiter = ','
    )]
    pub media_types: Vec<MediaTypeRule>,

    /// Folder of the WCMP2 discovery metadata records, relative to WIS2_DATA_DIR:
    /// its `*.json` files are announced on `origin/a/wis2/<centre-id>/metadata`.
    #[arg(
        long = "metadata-dir",
        env = "WIS2_METADATA_DIR",
        default_value = "metadata"
    )]
    pub metadata_dir: String,
}

/// One `EXT=TYPE` entry of the media type table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaTypeRule {
    /// Extension, lowercase, without the dot.
    pub ext: String,
    pub media_type: String,
}

impl std::str::FromStr for MediaTypeRule {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let usage = "give EXT=TYPE, for example nc=application/x-netcdf";
        let (ext, media_type) = s
            .split_once('=')
            .ok_or_else(|| format!("`{s}` has no `=`: {usage}"))?;
        let ext = ext.trim().trim_start_matches('.').to_ascii_lowercase();
        let media_type = media_type.trim();
        if ext.is_empty() || ext.contains(['/', '\\', '.', ' ']) {
            return Err(format!("`{s}`: `{ext}` is not a file extension; {usage}"));
        }
        let valid_type = media_type.split_once('/').is_some_and(|(t, sub)| {
            let tok = |x: &str| {
                !x.is_empty()
                    && x.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
            };
            tok(t) && tok(sub.split(';').next().unwrap_or_default().trim())
        });
        if !valid_type {
            return Err(format!(
                "`{s}`: `{media_type}` is not a media type (type/subtype); {usage}"
            ));
        }
        Ok(MediaTypeRule {
            ext,
            media_type: media_type.to_string(),
        })
    }
}

impl CreateSettings {
    /// The options of [`formats::describe_with`]: the built-in extension table with
    /// the configured entries added.
    pub fn format_options(&self) -> formats::Options {
        let mut opts = formats::Options::default();
        for r in &self.media_types {
            opts.media_types.insert(&r.ext, &r.media_type);
        }
        opts
    }
}

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
    settings: CreateSettings,
    data_root: PathBuf,
    formats: formats::Options,
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
        let topic_centre = settings.topic.split('/').nth(3).unwrap_or_default();
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

    /// The path of `file` relative to the data directory (`/`-separated), checking
    /// that it resolves inside it.
    pub fn relative_path(&self, file: &Path) -> Result<String, CreateError> {
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
        Ok(parts.join("/"))
    }

    /// Whether `rel` is a WCMP2 record of the metadata folder.
    pub fn is_metadata(&self, rel: &str) -> bool {
        let dir = self.settings.metadata_dir.trim_matches('/');
        !dir.is_empty()
            && rel.strip_prefix(dir).is_some_and(|r| r.starts_with('/'))
            && rel.ends_with(".json")
    }

    /// The topic messages about `rel` go to: the metadata topic for records, the
    /// data topic otherwise.
    pub fn topic_for(&self, rel: &str) -> String {
        if self.is_metadata(rel) {
            wis2::metadata::metadata_topic(&self.settings.centre_id)
        } else {
            self.settings.topic.clone()
        }
    }

    /// The notification of a new or changed WCMP2 record, and the record itself.
    pub fn record_message(
        &self,
        rel: &str,
        relation: Relation,
    ) -> Result<(Notification, String), CreateError> {
        let rel_path = wis2::event::check_relative(rel)?;
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
            public_href(&self.settings.base_url, &rel_path),
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
        rel: &str,
        record_id: Option<&str>,
    ) -> Result<Notification, CreateError> {
        let rel_path = wis2::event::check_relative(rel)?;
        let id = record_id.ok_or_else(|| CreateError::DeletionWithoutRecordId(rel.to_string()))?;
        let spec = wis2::metadata::spec_for_deletion(
            &self.settings.centre_id,
            id,
            public_href(&self.settings.base_url, &rel_path),
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
    pub fn message_for(&self, rel: &str, relation: Relation) -> Result<Notification, CreateError> {
        if self.is_metadata(rel) {
            return self.record_message(rel, relation).map(|(m, _)| m);
        }
        let rel_path = wis2::event::check_relative(rel)?;
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
            data_id: data_id_for(&self.settings.topic, &rel_path),
            metadata_id: Some(self.settings.metadata_id.clone()),
            href: public_href(&self.settings.base_url, &rel_path),
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
    fn build(&self, spec: MessageSpec) -> Notification {
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
    pub fn deletion_for(&self, rel: &str) -> Result<Notification, CreateError> {
        let rel_path = wis2::event::check_relative(rel)?;
        Ok(Notification::build(MessageSpec {
            data_id: data_id_for(&self.settings.topic, &rel_path),
            metadata_id: Some(self.settings.metadata_id.clone()),
            href: public_href(&self.settings.base_url, &rel_path),
            media_type: Some(
                self.formats
                    .media_types
                    .sniff(&[], Path::new(rel))
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
        let relation = match change {
            FileChange::Created => Relation::Canonical,
            FileChange::Updated => Relation::Update,
            FileChange::Deleted => Relation::Deletion,
        };
        if self.is_metadata(data.path.as_str()) {
            return match relation {
                Relation::Deletion => self
                    .record_deletion(data.path.as_str(), data.record_id.as_deref())
                    .map(|m| (m, None)),
                r => self
                    .record_message(data.path.as_str(), r)
                    .map(|(m, rec)| (m, Some(rec))),
            };
        }
        match relation {
            Relation::Deletion => self.deletion_for(data.path.as_str()).map(|m| (m, None)),
            r => self.message_for(data.path.as_str(), r).map(|m| (m, None)),
        }
    }
}

/// Settings of the `run` service.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub broker: BrokerArgs,
    #[command(flatten)]
    pub runtime: wis2_bus::RuntimeArgs,
    #[command(flatten)]
    pub settings: CreateSettings,
    /// Topic the file events arrive on.
    #[arg(long = "events-topic", env = "WIS2_EVENTS_TOPIC", default_value = wis2_bus::topics::EVENTS)]
    pub events_topic: String,
    /// Topic of upstream CloudEvents carrying a STAC Item, subscribed to in addition
    /// to the events topic (none by default).
    #[arg(long = "stac-topic", env = "WIS2_STAC_TOPIC")]
    pub stac_topic: Option<String>,
    /// Topic the built messages go to.
    #[arg(long = "created-topic", env = "WIS2_CREATED_TOPIC", default_value = wis2_bus::topics::CREATED)]
    pub created_topic: String,
    /// Dead-letter topic.
    #[arg(long = "deadletter-topic", env = "WIS2_DEADLETTER_TOPIC", default_value = wis2_bus::topics::DEADLETTER)]
    pub deadletter_topic: String,
    /// Folder where dead letters are also written.
    #[arg(long = "deadletter-dir", env = "WIS2_DEADLETTER_DIR")]
    pub deadletter_dir: Option<PathBuf>,
    /// Files in hand at once (those that arrive together are read by as many
    /// threads as there are CPUs).
    #[arg(long = "concurrency", env = "WIS2_CONCURRENCY", default_value_t = 8)]
    pub concurrency: usize,
}

struct CreateStage {
    creator: Creator,
    created_topic: String,
}

/// The delivery's CloudEvent, parsed once for the log span and the handler.
fn event_of(d: &Delivery) -> Result<std::borrow::Cow<'_, CloudEvent>, Failure> {
    let parse = |d: &Delivery| CloudEvent::parse(&d.payload).map_err(|e| e.to_string());
    match d.prepared(parse) {
        Some(Ok(ev)) => Ok(std::borrow::Cow::Borrowed(ev)),
        Some(Err(e)) => Err(Failure::new(e.clone())),
        None => parse(d).map(std::borrow::Cow::Owned).map_err(Failure::new),
    }
}

impl Handler for CreateStage {
    fn stage(&self) -> &'static str {
        "wis2-create"
    }

    fn describe(&self, d: &Delivery) -> String {
        event_of(d)
            .map(|e| {
                format!(
                    "event_id={} subject={}",
                    e.id,
                    e.subject.as_deref().unwrap_or_default()
                )
            })
            .unwrap_or_default()
    }

    /// Nothing to do once the message is acknowledged (wis2-watch is confirmed by
    /// wis2-publish).
    fn has_post_ack_step(&self) -> bool {
        false
    }

    fn handle(&self, d: &Delivery) -> Result<Vec<Output>, Failure> {
        let ev = event_of(d)?;
        let fail = |e: CreateError| Failure::new(format!("{e:#}"));
        let (msgs, path, record, reannounce) = match EventKind::of(&ev) {
            EventKind::File => {
                let (msg, record) = self.creator.envelope_parts(&ev).map_err(fail)?;
                let data = ev.file_event().ok().map(|(_, data)| data);
                let reannounce = data.as_ref().is_some_and(|d| d.reannounce);
                (
                    vec![msg],
                    data.map(|d| d.path.into_string()),
                    record,
                    reannounce,
                )
            }
            // STAC messages have no file of wis2-watch to confirm: no path.
            EventKind::Stac => (
                self.creator.messages_for_stac_event(&ev).map_err(fail)?,
                None,
                None,
                false,
            ),
        };
        let topic = match &path {
            Some(p) => self.creator.topic_for(p),
            None => self.creator.settings.topic.clone(),
        };
        let mut out = Vec::with_capacity(msgs.len());
        for msg in msgs {
            let mut env = Envelope::new(
                topic.clone(),
                Some(ev.id.clone()),
                path.clone(),
                msg.to_json(),
            )
            .map_err(|e| Failure::new(e.to_string()))?;
            if let Some(record) = &record {
                env = env
                    .with_record(record.clone())
                    .map_err(|e| Failure::new(e.to_string()))?;
            }
            env.reannounce = reannounce;
            tracing::info!(
                event_id = ev.id,
                message_id = %msg.id,
                data_id = msg.properties.data_id,
                "message built"
            );
            out.push(Output::new(self.created_topic.clone(), env.to_vec()));
        }
        Ok(out)
    }
}

/// Which kind of event a CloudEvent is, told by its `type` and the shape of `data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// A file event of `wis2-watch` (one of the chain's `type`s), or anything else
    /// that is not a STAC item (it then fails as an unknown type).
    File,
    /// `data` is a STAC Item: a GeoJSON `Feature` with `assets` (as an object, or as
    /// a JSON string).
    Stac,
}

impl EventKind {
    pub fn of(ev: &CloudEvent) -> Self {
        if FileChange::from_event_type(&ev.kind).is_some() {
            return EventKind::File;
        }
        let is_item = |v: &serde_json::Value| {
            v.get("type").and_then(|t| t.as_str()) == Some("Feature")
                && v.get("assets").is_some_and(|a| a.is_object())
        };
        let stac = match &ev.data {
            Some(serde_json::Value::String(s)) => {
                serde_json::from_str::<serde_json::Value>(s).is_ok_and(|v| is_item(&v))
            }
            Some(v) => is_item(v),
            None => false,
        };
        if stac {
            EventKind::Stac
        } else {
            EventKind::File
        }
    }
}

/// Runs the service until `shutdown` completes.
pub async fn run(args: RunArgs, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    use anyhow::Context;
    let creator = Creator::new(args.settings.clone()).context("invalid wis2-create settings")?;
    tracing::info!(broker = %args.broker.redacted_url(), data_dir = %args.settings.data_dir.display(), topic = %args.settings.topic, "wis2-create starting");
    let mut topics = vec![args.events_topic.clone()];
    if let Some(t) = args.stac_topic.as_ref().filter(|t| !t.trim().is_empty()) {
        if *t != args.events_topic {
            topics.push(t.clone());
        }
        tracing::info!(stac_topic = %t, "also taking STAC item events");
    }
    let conn = Bus::connect(
        args.broker
            .service_connection("wis2-create", topics)
            .context("invalid broker settings")?,
    );
    let mut cfg = StageConfig::new(args.deadletter_topic.clone());
    cfg.deadletter_dir = args.deadletter_dir.clone();
    cfg.concurrency = args.concurrency.max(1);
    let stage = Arc::new(CreateStage {
        creator,
        created_topic: args.created_topic.clone(),
    });
    wis2_bus::run_stage(conn, stage, cfg, shutdown).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        s: CreateSettings,
    }

    fn stage(dir: &Path) -> CreateStage {
        let s = Cli::try_parse_from([
            "t",
            "--data-dir",
            &dir.display().to_string(),
            "--base-url",
            "https://data.example.org/argo",
        ])
        .expect("settings")
        .s;
        CreateStage {
            creator: Creator::new(s).expect("creator"),
            created_topic: "chain/created".into(),
        }
    }

    fn stac_event(name: &str, size: usize, checksum: &str) -> Vec<u8> {
        serde_json::json!({
            "specversion": "1.0", "id": "ev-1", "source": "upstream", "type": "x.stac",
            "data": {"type": "Feature", "id": "i", "geometry": null,
                     "properties": {"datetime": "2024-11-09T21:08:00Z"},
                     "assets": {name: {"href": format!("https://data.example.org/argo/{name}"),
                                       "roles": ["data"], "file:size": size,
                                       "file:checksum": checksum}}}
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn the_service_takes_stac_events_and_rejects_bad_local_copies() {
        let dir = tempfile::tempdir().expect("tempdir");
        let st = stage(dir.path());
        let sha256_of_abc = "1220ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        // No local copy: the item is trusted.
        let d = Delivery::detached("upstream/stac", stac_event("a.txt", 3, sha256_of_abc));
        let out = st.handle(&d).expect("handled");
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].topic, "chain/created");
        let env = Envelope::parse(&out[0].payload).expect("envelope");
        assert_eq!(env.topic, DEFAULT_TOPIC);
        assert_eq!(env.event_id.as_deref(), Some("ev-1"));
        let msg: serde_json::Value = serde_json::from_slice(env.message_bytes()).expect("message");
        assert_eq!(msg["properties"]["integrity"]["method"], "sha256");
        // A local copy that agrees.
        std::fs::write(dir.path().join("a.txt"), b"abc").expect("write");
        assert!(st.handle(&d).is_ok());
        // One that does not: a failure (dead letter) naming the file and the checksum.
        std::fs::write(dir.path().join("a.txt"), b"abd").expect("write");
        let f = st.handle(&d).expect_err("digest differs");
        assert!(f.reason.contains("a.txt"), "{}", f.reason);
        assert!(f.reason.contains("file:checksum"), "{}", f.reason);
        // Neither a file event nor a STAC item.
        let d = Delivery::detached(
            "upstream/stac",
            br#"{"specversion":"1.0","id":"x","source":"s","type":"other","data":{}}"#.to_vec(),
        );
        let f = st.handle(&d).expect_err("unknown");
        assert!(f.reason.contains("unknown event type"), "{}", f.reason);
    }
}
