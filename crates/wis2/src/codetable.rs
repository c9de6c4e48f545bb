//! Code tables as WMO ships them (the WTH bundle, the WCMP2 code lists): CSV files
//! (RFC 4180) with a header row naming a `Name` column, and sometimes a `Status` one.

/// One entry of a code table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// The `Name` field, trimmed (never empty).
    pub name: String,
    /// The `Status` field, trimmed, when the table has that column.
    pub status: Option<String>,
}

/// Every row of `text`, each as its fields (quoted fields unquoted, a UTF-8 BOM
/// dropped); the error says what is malformed.
fn rows(text: &str) -> Result<Vec<Vec<String>>, String> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.trim_start_matches('\u{feff}').as_bytes())
        .records()
        .map(|r| {
            r.map(|r| r.iter().map(str::to_string).collect())
                .map_err(|e| e.to_string())
        })
        .collect()
}

/// The entries of a code table (rows with an empty name skipped); the error names
/// what is wrong: an empty file, no `Name` column, no entries, or bad CSV.
pub(crate) fn entries(text: &str) -> Result<Vec<Entry>, String> {
    let mut rows = rows(text)?.into_iter();
    let header = rows.next().ok_or("empty file")?;
    let column = |name: &str| {
        header
            .iter()
            .position(|h| h.trim().eq_ignore_ascii_case(name))
    };
    let name_col = column("name").ok_or("no `Name` column")?;
    let status_col = column("status");
    let out: Vec<Entry> = rows
        .filter_map(|row| {
            let name = row.get(name_col)?.trim();
            (!name.is_empty()).then(|| Entry {
                name: name.to_string(),
                status: status_col
                    .and_then(|c| row.get(c))
                    .map(|s| s.trim().to_string()),
            })
        })
        .collect();
    if out.is_empty() {
        return Err("no entries".into());
    }
    Ok(out)
}

/// The rows of a two-level table (the WTH's `index-flat.csv` of satellites and
/// their instruments): each as `satellite/instrument` and its `Status`.
pub(crate) fn pair_entries(text: &str, first: &str, second: &str) -> Result<Vec<Entry>, String> {
    let mut rows = rows(text)?.into_iter();
    let header = rows.next().ok_or("empty file")?;
    let column = |name: &str| {
        header
            .iter()
            .position(|h| h.trim().eq_ignore_ascii_case(name))
    };
    let a = column(first).ok_or_else(|| format!("no `{first}` column"))?;
    let b = column(second).ok_or_else(|| format!("no `{second}` column"))?;
    let status_col = column("status");
    let out: Vec<Entry> = rows
        .filter_map(|row| {
            let (x, y) = (row.get(a)?.trim(), row.get(b)?.trim());
            (!x.is_empty() && !y.is_empty()).then(|| Entry {
                name: format!("{x}/{y}"),
                status: status_col
                    .and_then(|c| row.get(c))
                    .map(|s| s.trim().to_string()),
            })
        })
        .collect();
    if out.is_empty() {
        return Err("no entries".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_and_crlf() {
        let wth = rows("Name,Desc\r\na,\"x, \"\"y\"\"\"\r\nb,z").unwrap_or_default();
        assert_eq!(wth.len(), 3);
        assert_eq!(wth[1][1], "x, \"y\"");
        assert_eq!(wth[2][0], "b");
        let codelist = rows("Name,Description\r\nhost,\"a, \"\"b\"\"\"\r\nx,y").expect("csv");
        assert_eq!(
            codelist[1],
            vec!["host".to_string(), "a, \"b\"".to_string()]
        );
        assert_eq!(codelist[2][0], "x");
    }

    #[test]
    fn names_and_statuses() {
        let e = entries("\u{feff}Name,Status\n a ,Operational\n,\nb\n").expect("table");
        assert_eq!(
            e,
            vec![
                Entry {
                    name: "a".into(),
                    status: Some("Operational".into())
                },
                Entry {
                    name: "b".into(),
                    status: None
                },
            ]
        );
        assert_eq!(entries(""), Err("empty file".into()));
        assert_eq!(entries("Id,Status\nx,y\n"), Err("no `Name` column".into()));
        assert_eq!(entries("Name\n\n"), Err("no entries".into()));
    }
}
