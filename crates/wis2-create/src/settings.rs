//! What every message needs to know about the centre and the dataset
//! ([`CreateSettings`], one clap struct shared by the service and the one-shot
//! commands).

use std::path::PathBuf;

use clap::Args;
use wis2::formats;
use wis2::hash::Method;
use wis2::topic::Topic;

/// The default WIS2 topic: Argo profiles of Ifremer.
pub const DEFAULT_TOPIC: &str = "origin/a/wis2/fr-ifremer-argo/data/core/ocean/surface-based-observations/drifting-ocean-profilers";

/// What every message needs to know about the centre and the dataset.
#[derive(Debug, Clone, Args)]
pub struct CreateSettings {
    /// Directory the data files live in; paths in events are relative to it.
    #[arg(long, env = "WIS2_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,

    /// Public URL prefix of the data directory (links are this + the relative path).
    #[arg(long, env = "WIS2_BASE_URL", default_value = "http://localhost:8080/data")]
    pub base_url: String,

    /// WIS2 centre id (level 4 of the topic).
    #[arg(long, env = "WIS2_CENTRE_ID", default_value = "fr-ifremer-argo")]
    pub centre_id: String,

    /// WCMP2 record id of the dataset (`properties.metadata_id`).
    #[arg(
        long,
        env = "WIS2_METADATA_ID",
        default_value = "urn:wmo:md:fr-ifremer-argo:cor:msg:argo"
    )]
    pub metadata_id: String,

    /// WIS2 topic the data are published on.
    #[arg(long, env = "WIS2_TOPIC", default_value = DEFAULT_TOPIC)]
    pub topic: Topic,

    /// Integrity method: sha256, sha384, sha512, sha3-256, sha3-384 or sha3-512.
    #[arg(long, env = "WIS2_INTEGRITY_METHOD", default_value = "sha512")]
    pub integrity: Method,

    /// Inline the data of small files in `properties.content` when the encoded value
    /// is at most this many bytes (capped at 4096, the WNM limit); 0 = never.
    #[arg(long, env = "WIS2_INLINE_MAX_BYTES", default_value_t = 0)]
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
    #[arg(long, env = "WIS2_METADATA_DIR", default_value = "metadata")]
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
