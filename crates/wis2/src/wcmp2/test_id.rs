//! Test identifiers: the labels of the WCMP2 abstract tests, under pywcmp's prefix.

macro_rules! ids {
    ($($name:ident = $s:literal),* $(,)?) => {
        $(pub const $name: &str = concat!("http://wis.wmo.int/spec/wcmp/2/conf/core/", $s);)*
        /// Every test, in report order.
        pub const ALL: &[&str] = &[$($name),*];
    };
}
ids! {
    VALIDATION = "validation",
    IDENTIFIER = "identifier",
    CONFORMANCE = "conformance",
    TYPE = "type",
    EXTENT_GEOSPATIAL = "extent_geospatial",
    EXTENT_TEMPORAL = "extent_temporal",
    TITLE = "title",
    DESCRIPTION = "description",
    THEMES = "themes",
    THEMES_WIS2_GLOBAL_SERVICE = "themes_wis2_global_service",
    CONTACTS = "contacts",
    RECORD_CREATION_DATE = "record_creation_date",
    DATA_POLICY = "data_policy",
    LINKS = "links",
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_pywcmp_shaped() {
        assert_eq!(ALL.len(), 14);
        assert_eq!(
            RECORD_CREATION_DATE,
            "http://wis.wmo.int/spec/wcmp/2/conf/core/record_creation_date"
        );
    }
}
