//! Where people are registered: the 31 provinces with their 2020 census population and a small
//! table of real county-level division codes (GB/T 2260) under each, plus where migrants live.
//! Owns only the hand-written tables; sampling lives in `sample`.

/// One province: its two-digit prefix, its 2020 census population in ten-thousands (万人), and
/// real 6-digit division codes of districts and cities in it.
pub(crate) struct Province {
    pub prefix: &'static str,
    pub population_10k: u32,
    pub divisions: &'static [&'static str],
}

/// Seventh national census (2020), resident population by province, in 10,000 people.
pub(crate) const PROVINCES: &[Province] = &[
    Province {
        prefix: "11",
        population_10k: 2189,
        divisions: &[
            "110101", "110102", "110105", "110106", "110108", "110114", "110115",
        ],
    },
    Province {
        prefix: "12",
        population_10k: 1387,
        divisions: &["120101", "120102", "120103", "120104", "120110", "120116"],
    },
    Province {
        prefix: "13",
        population_10k: 7461,
        divisions: &[
            "130102", "130104", "130202", "130302", "130402", "130602", "131002",
        ],
    },
    Province {
        prefix: "14",
        population_10k: 3492,
        divisions: &["140105", "140106", "140107", "140302", "140702", "140802"],
    },
    Province {
        prefix: "15",
        population_10k: 2405,
        divisions: &[
            "150102", "150103", "150105", "150202", "150203", "150402", "150602",
        ],
    },
    Province {
        prefix: "21",
        population_10k: 4259,
        divisions: &[
            "210102", "210103", "210104", "210202", "210203", "210204", "210302", "210402",
        ],
    },
    Province {
        prefix: "22",
        population_10k: 2407,
        divisions: &[
            "220102", "220104", "220105", "220202", "220203", "220302", "222401",
        ],
    },
    Province {
        prefix: "23",
        population_10k: 3185,
        divisions: &[
            "230102", "230103", "230104", "230202", "230402", "230602", "231002",
        ],
    },
    Province {
        prefix: "31",
        population_10k: 2487,
        divisions: &[
            "310101", "310104", "310105", "310106", "310107", "310109", "310110", "310112",
            "310113", "310114", "310115", "310117",
        ],
    },
    Province {
        prefix: "32",
        population_10k: 8475,
        divisions: &[
            "320102", "320104", "320106", "320211", "320303", "320402", "320505", "320508",
            "320602", "321002",
        ],
    },
    Province {
        prefix: "33",
        population_10k: 6457,
        divisions: &[
            "330102", "330105", "330106", "330108", "330203", "330302", "330402", "330602",
            "330702", "331002",
        ],
    },
    Province {
        prefix: "34",
        population_10k: 6103,
        divisions: &[
            "340102", "340103", "340104", "340202", "340302", "340402", "341102", "341502",
        ],
    },
    Province {
        prefix: "35",
        population_10k: 4154,
        divisions: &[
            "350102", "350103", "350104", "350203", "350206", "350302", "350502", "350602",
        ],
    },
    Province {
        prefix: "36",
        population_10k: 4519,
        divisions: &[
            "360102", "360103", "360111", "360202", "360402", "360702", "361102",
        ],
    },
    Province {
        prefix: "37",
        population_10k: 10153,
        divisions: &[
            "370102", "370103", "370104", "370202", "370203", "370212", "370302", "370602",
            "370702", "371302",
        ],
    },
    Province {
        prefix: "41",
        population_10k: 9937,
        divisions: &[
            "410102", "410103", "410105", "410202", "410302", "410305", "410702", "411102",
            "411302",
        ],
    },
    Province {
        prefix: "42",
        population_10k: 5775,
        divisions: &[
            "420102", "420103", "420106", "420111", "420502", "420602", "420802", "421002",
        ],
    },
    Province {
        prefix: "43",
        population_10k: 6644,
        divisions: &[
            "430102", "430103", "430104", "430105", "430202", "430302", "430402", "430602",
            "430702",
        ],
    },
    Province {
        prefix: "44",
        population_10k: 12601,
        divisions: &[
            "440103", "440104", "440105", "440106", "440111", "440303", "440304", "440305",
            "440306", "440402", "440507", "440604", "441900", "442000", "445102",
        ],
    },
    Province {
        prefix: "45",
        population_10k: 5013,
        divisions: &[
            "450102", "450103", "450107", "450202", "450302", "450502", "450802",
        ],
    },
    Province {
        prefix: "46",
        population_10k: 1008,
        divisions: &["460105", "460106", "460107", "460108", "460202"],
    },
    Province {
        prefix: "50",
        population_10k: 3205,
        divisions: &[
            "500101", "500103", "500105", "500106", "500107", "500108", "500112", "500113",
        ],
    },
    Province {
        prefix: "51",
        population_10k: 8367,
        divisions: &[
            "510104", "510105", "510106", "510107", "510108", "510302", "510502", "510603",
            "510703", "511302",
        ],
    },
    Province {
        prefix: "52",
        population_10k: 3856,
        divisions: &[
            "520102", "520103", "520111", "520201", "520302", "520402", "522601",
        ],
    },
    Province {
        prefix: "53",
        population_10k: 4721,
        divisions: &[
            "530102", "530103", "530111", "530112", "530302", "530402", "530702", "532501",
            "532901",
        ],
    },
    Province {
        prefix: "54",
        population_10k: 365,
        divisions: &["540102", "540202", "540302", "540402"],
    },
    Province {
        prefix: "61",
        population_10k: 3953,
        divisions: &[
            "610102", "610103", "610104", "610113", "610202", "610302", "610402", "610802",
        ],
    },
    Province {
        prefix: "62",
        population_10k: 2502,
        divisions: &[
            "620102", "620103", "620104", "620105", "620502", "620702", "621102",
        ],
    },
    Province {
        prefix: "63",
        population_10k: 592,
        divisions: &["630102", "630103", "630104", "630105", "630202"],
    },
    Province {
        prefix: "64",
        population_10k: 720,
        divisions: &["640104", "640105", "640106", "640202", "640302"],
    },
    Province {
        prefix: "65",
        population_10k: 2585,
        divisions: &[
            "650102", "650103", "650104", "650105", "650202", "652101", "653101", "654002",
        ],
    },
];

/// Share (per mille) of people who live outside the province of their ID number.
pub(crate) const MIGRANT_PER_MILLE: u32 = 150;

/// Where migrants live: province prefix and relative weight (the big receiving provinces of the
/// 2020 census inter-provincial migration figures, rounded).
pub(crate) const MIGRANT_DESTINATIONS: &[(&str, u32)] = &[
    ("44", 30),
    ("33", 16),
    ("31", 12),
    ("32", 12),
    ("11", 10),
    ("35", 6),
    ("12", 4),
    ("37", 3),
    ("51", 3),
    ("42", 2),
    ("50", 2),
];

/// Adult age bands `[from, to)` in years with their 2020 census population in millions
/// (the 15–19 band scaled to the ages 18–19); ages 18..=85.
pub(crate) const AGE_BANDS: &[(u32, u32, u32)] = &[
    (18, 20, 29),
    (20, 25, 75),
    (25, 30, 92),
    (30, 35, 124),
    (35, 40, 99),
    (40, 45, 93),
    (45, 50, 115),
    (50, 55, 121),
    (55, 60, 101),
    (60, 65, 73),
    (65, 70, 74),
    (70, 75, 50),
    (75, 80, 31),
    (80, 85, 21),
    (85, 86, 3),
];

/// The index of a province in [`PROVINCES`] by prefix.
pub(crate) fn province_index(prefix: &str) -> Option<usize> {
    PROVINCES.iter().position(|p| p.prefix == prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_registry_region_has_divisions_and_every_division_is_in_its_province() {
        let regions = chaka_core::RegionRegistry::builtin();
        assert_eq!(PROVINCES.len(), regions.regions().len());
        for p in PROVINCES {
            assert!(regions.get(p.prefix).is_some(), "{}", p.prefix);
            assert!(!p.divisions.is_empty());
            for d in p.divisions {
                assert_eq!(d.len(), 6);
                assert!(d.starts_with(p.prefix), "{d}");
            }
        }
        for (prefix, _) in MIGRANT_DESTINATIONS {
            assert!(province_index(prefix).is_some());
        }
    }

    #[test]
    fn age_bands_cover_18_to_85() {
        assert_eq!(AGE_BANDS.first().map(|b| b.0), Some(18));
        assert_eq!(AGE_BANDS.last().map(|b| b.1), Some(86));
        for w in AGE_BANDS.windows(2) {
            assert_eq!(w[0].1, w[1].0);
        }
    }
}
