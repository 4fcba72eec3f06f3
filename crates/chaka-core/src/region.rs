//! Regions: the province-level divisions of mainland China with the two-digit prefix they have in
//! resident ID numbers (`data/regions.json`), and the wave in which each was opened for the
//! one-click card lookup (Shanghai and Yunnan in the December 2021 pilot).

use crate::bank::Wave;
use serde::Deserialize;
use std::sync::LazyLock;

/// A province-level region.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Region {
    /// The first two digits of the ID numbers issued there.
    pub prefix: String,
    /// Chinese name.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// When it was opened for the service, if it was.
    pub wave: Option<Wave>,
}

#[derive(Deserialize)]
struct TableFile {
    regions: Vec<Region>,
}

/// The set of regions.
#[derive(Debug, Clone)]
pub struct RegionRegistry {
    regions: Vec<Region>,
    unknown: Region,
}

static BUILTIN: LazyLock<RegionRegistry> = LazyLock::new(|| {
    // Part of the source tree; a unit test proves it parses.
    let regions = serde_json::from_str::<TableFile>(include_str!("../data/regions.json"))
        .map(|t| t.regions)
        .unwrap_or_default();
    RegionRegistry {
        regions,
        unknown: Region {
            prefix: "00".to_owned(),
            name_zh: "未知".to_owned(),
            name_en: "Unknown".to_owned(),
            wave: None,
        },
    }
});

impl RegionRegistry {
    /// The 31 province-level regions of mainland China.
    pub fn builtin() -> &'static RegionRegistry {
        &BUILTIN
    }

    /// All regions in table order.
    pub fn regions(&self) -> &[Region] {
        &self.regions
    }

    /// The region with this two-digit prefix.
    pub fn get(&self, prefix: &str) -> Option<&Region> {
        self.regions.iter().find(|r| r.prefix == prefix)
    }

    /// The placeholder returned for a prefix that is not in the table (never for a parsed
    /// [`crate::IdNumber`], whose prefix is always known).
    pub fn unknown(&self) -> &Region {
        &self.unknown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_table_has_31_regions_and_the_pilot_two() {
        let parsed: TableFile = serde_json::from_str(include_str!("../data/regions.json")).unwrap();
        assert_eq!(parsed.regions.len(), 31);
        let reg = RegionRegistry::builtin();
        assert_eq!(reg.regions().len(), 31);
        let pilot: Vec<&str> = reg
            .regions()
            .iter()
            .filter(|r| r.wave == Some(Wave::Pilot2021))
            .map(|r| r.name_en.as_str())
            .collect();
        assert_eq!(pilot, ["Shanghai", "Yunnan"]);
        assert_eq!(reg.get("53").unwrap().name_zh, "云南省");
        assert!(reg.get("99").is_none());
    }
}
