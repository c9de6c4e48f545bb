//! Messages from upstream CloudEvents whose `data` is a STAC Item.
//!
//! [`wis2::stac::specs_from_stac_event`] reads the item; each data asset becomes one
//! message:
//!
//! - geometry and time: the item's (the asset's own time when it has one), in UTC;
//! - canonical link: the asset `href`, with its `type` and `length` (`file:size`);
//! - integrity: the `file:checksum` multihash, re-encoded in base64;
//! - `data_id`: see [`Creator::asset_path`].
//!
//! When the asset's file is also on local disk under WIS2_DATA_DIR, at the same
//! relative path, it must agree with the item: its size with `file:size` and its
//! digest with `file:checksum` ([`wis2::stac::check_local_file`]); otherwise the event
//! is rejected (in the service: a dead letter naming the file, the asset and both
//! values). A local copy also fills what the item leaves out (digest, size, media
//! type) and gives the inline content of small files.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use wis2::event::CloudEvent;
use wis2::hash::Integrity;
use wis2::message::{MessageSpec, Notification, Relation, Temporal, data_id_for};
use wis2::path::RelPath;
use wis2::stac::{StacAsset, StacError, StacOptions, check_local_file, specs_from_stac_event};

use crate::creator::{CreateError, Creator};
use crate::{content, digest};

/// Link schemes a WNM allows.
const SCHEMES: [&str; 4] = ["https", "http", "ftp", "sftp"];

/// Where an asset's file is, as far as the message is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetPath {
    /// `/`-separated, percent-decoded path used in `data_id`, and, under the data
    /// directory, for a local copy.
    pub rel: RelPath,
    /// True when the href starts with WIS2_BASE_URL (`rel` is then the rest of it).
    pub under_base_url: bool,
}

/// What a local copy of an asset says.
struct LocalCopy {
    length: u64,
    /// The digest of the copy: the declared one once checked, or one computed with
    /// the configured method when the item declares none.
    integrity: Integrity,
    /// The whole file, when it is small enough to be inlined.
    bytes: Option<Vec<u8>>,
}

impl Creator {
    /// One message per data asset (role `data`, or no roles) of the STAC Item in
    /// `ev.data`, in the order of the asset keys. Any unusable asset rejects
    /// the whole event.
    pub fn messages_for_stac_event(
        &self,
        ev: &CloudEvent,
    ) -> Result<Vec<Notification>, CreateError> {
        let assets = specs_from_stac_event(ev, &StacOptions::default())?;
        assets.iter().map(|a| self.message_for_asset(a)).collect()
    }

    /// The path an asset's `data_id` ends with (and where a local copy would be).
    ///
    /// `data_id` is the topic without channel and version, then:
    /// - when the href starts with WIS2_BASE_URL (same scheme, host and port, and its
    ///   path below the base URL's path): the rest of the href's path, which is also
    ///   the relative path a file under WIS2_DATA_DIR has, so the same file announced
    ///   by `wis2-watch` or by a STAC event gets the same `data_id`;
    /// - otherwise: the whole path of the href (without the host), for example
    ///   `dac/coriolis/7901113/profiles/R7901113_022.nc`, which keeps the producer's
    ///   own layout and stays unique within the dataset where the file name alone
    ///   might not.
    ///
    /// Segments are percent-decoded; query and fragment are not part of it.
    pub fn asset_path(&self, href: &str) -> Result<AssetPath, CreateError> {
        let err = |reason: String| CreateError::Href {
            href: href.to_string(),
            reason,
        };
        let url = url::Url::parse(href.trim())
            .map_err(|e| err(format!("{e}; give an absolute https URL")))?;
        if !SCHEMES.contains(&url.scheme()) {
            return Err(err(format!(
                "scheme `{}` is not allowed in a WNM link; use https, http, ftp or sftp",
                url.scheme()
            )));
        }
        let segments = |u: &url::Url| -> Vec<String> {
            u.path_segments()
                .map(|s| s.map(str::to_string).collect())
                .unwrap_or_default()
        };
        let href_segs = segments(&url);
        let mut rest: &[String] = &href_segs;
        let mut under_base_url = false;
        if let Ok(base) = url::Url::parse(self.settings.base_url.trim()) {
            let mut base_segs = segments(&base);
            if base_segs.last().is_some_and(String::is_empty) {
                base_segs.pop();
            }
            if base.scheme() == url.scheme()
                && base.host_str() == url.host_str()
                && base.port_or_known_default() == url.port_or_known_default()
                && href_segs.len() > base_segs.len()
                && href_segs.starts_with(&base_segs)
            {
                rest = &href_segs[base_segs.len()..];
                under_base_url = true;
            }
        }
        let rel = RelPath::from_url_segments(rest.iter().map(String::as_str)).map_err(|e| {
            err(format!(
                "its path `{}` does not name a file (empty, `.` or `..` segments)",
                e.path()
            ))
        })?;
        Ok(AssetPath {
            rel,
            under_base_url,
        })
    }

    /// The message of one asset (see the module documentation).
    pub fn message_for_asset(&self, asset: &StacAsset) -> Result<Notification, CreateError> {
        let place = self.asset_path(&asset.href)?;
        let mut media_type = asset.media_type.clone();
        let mut length = asset.length;
        let mut integrity = asset.integrity.clone();
        let mut temporal = asset.temporal;
        let mut geometry = asset.geometry.clone();
        let mut content = None;
        if let Some(local) = self.local_copy(&place.rel)? {
            let copy = self.check_copy(asset, &local)?;
            length = Some(copy.length);
            integrity = Some(copy.integrity);
            if media_type.is_none() {
                let facts = wis2::formats::describe_with(&local, &self.formats)?;
                if temporal == Temporal::Unknown && geometry.is_none() {
                    temporal = facts.temporal;
                    geometry = facts.geometry;
                }
                media_type = Some(facts.media_type);
            }
            let limit = content::limit(self.settings.inline_max_bytes);
            content = copy
                .bytes
                .as_deref()
                .and_then(|b| content::inline(b, media_type.as_deref(), limit));
        }
        if media_type.is_none() {
            media_type = self
                .formats
                .media_types
                .by_extension(Path::new(place.rel.as_str()))
                .map(str::to_string);
        }
        Ok(self.build(MessageSpec {
            data_id: data_id_for(self.settings.topic.as_str(), &place.rel),
            metadata_id: Some(self.settings.metadata_id.clone()),
            href: asset.href.trim().to_string(),
            media_type,
            length,
            integrity,
            temporal,
            geometry,
            relation: Relation::Canonical,
            content,
            ..Default::default()
        }))
    }

    /// The local copy of `rel` under the data directory, if there is one.
    fn local_copy(&self, rel: &RelPath) -> Result<Option<PathBuf>, CreateError> {
        let path = self.data_root.join(rel);
        let io = |source| CreateError::Io {
            path: path.display().to_string(),
            source,
        };
        match std::fs::metadata(&path) {
            Ok(m) if m.is_file() => {}
            Ok(_) => return Ok(None),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                ) =>
            {
                return Ok(None);
            }
            Err(e) => return Err(io(e)),
        }
        let canon = path.canonicalize().map_err(io)?;
        if !canon.starts_with(&self.data_root) {
            return Err(CreateError::Outside(
                rel.to_string(),
                self.data_root.display().to_string(),
            ));
        }
        Ok(Some(canon))
    }

    /// Checks a local copy against the asset; small files are read once, whole.
    fn check_copy(&self, asset: &StacAsset, path: &Path) -> Result<LocalCopy, CreateError> {
        let shown = path.display().to_string();
        let io = |source| StacError::Io {
            path: shown.clone(),
            source,
        };
        let size = std::fs::metadata(path).map_err(io)?.len();
        let limit = content::limit(self.settings.inline_max_bytes);
        if content::may_fit(size, limit) {
            let mut bytes = Vec::with_capacity(size as usize + 1);
            File::open(path)
                .map_err(io)?
                .take(limit as u64 + 1)
                .read_to_end(&mut bytes)
                .map_err(io)?;
            let actual = bytes.len() as u64;
            if let Some(expected) = asset.length.filter(|e| *e != actual) {
                return Err(StacError::SizeMismatch {
                    path: shown,
                    key: asset.key.clone(),
                    expected,
                    actual,
                }
                .into());
            }
            let method = asset
                .integrity
                .as_ref()
                .map_or(self.settings.integrity, |i| i.method);
            let got = digest::digest_bytes(method, &bytes);
            if let Some(want) = &asset.integrity
                && want.value != got.value
            {
                return Err(StacError::DigestMismatch {
                    path: shown,
                    key: asset.key.clone(),
                    method,
                    expected: want.value.clone(),
                    actual: got.value,
                }
                .into());
            }
            return Ok(LocalCopy {
                length: actual,
                integrity: got,
                bytes: Some(bytes),
            });
        }
        // Size, and digest when declared.
        check_local_file(asset, path)?;
        let integrity = match &asset.integrity {
            Some(i) => i.clone(),
            None => {
                let file = File::open(path).map_err(io)?;
                let d = digest::digest_reader(self.settings.integrity, file, size).map_err(io)?;
                if d.length != size {
                    return Err(CreateError::Changed(
                        shown,
                        format!("{} bytes read, {size} bytes before", d.length),
                    ));
                }
                d.integrity
            }
        };
        Ok(LocalCopy {
            length: size,
            integrity,
            bytes: None,
        })
    }
}
