//! What people are called and which mobile numbers they carry: common Chinese surnames with
//! their frequency, given-name characters by sex and by generation, and the real mobile number
//! segments of the three carriers. Hand-written tables only; no sampling logic.

/// The most common surnames with their approximate share per ten thousand people (the 2020
/// household-registration statistics, rounded); the remainder is spread over rarer names.
pub(crate) const SURNAMES: &[(&str, u32)] = &[
    ("王", 710),
    ("李", 700),
    ("张", 670),
    ("刘", 540),
    ("陈", 450),
    ("杨", 310),
    ("黄", 220),
    ("赵", 210),
    ("吴", 200),
    ("周", 190),
    ("徐", 150),
    ("孙", 150),
    ("马", 140),
    ("朱", 130),
    ("胡", 120),
    ("郭", 120),
    ("何", 110),
    ("高", 110),
    ("林", 100),
    ("罗", 90),
    ("郑", 90),
    ("梁", 90),
    ("谢", 80),
    ("宋", 80),
    ("唐", 80),
    ("许", 70),
    ("韩", 70),
    ("冯", 70),
    ("邓", 70),
    ("曹", 70),
    ("彭", 60),
    ("曾", 60),
    ("肖", 60),
    ("田", 60),
    ("董", 50),
    ("袁", 50),
    ("潘", 50),
    ("于", 50),
    ("蒋", 50),
    ("蔡", 50),
    ("余", 50),
    ("杜", 50),
    ("叶", 50),
    ("程", 50),
    ("苏", 40),
    ("魏", 40),
    ("吕", 40),
    ("丁", 40),
    ("任", 40),
    ("沈", 40),
    ("姚", 40),
    ("卢", 40),
    ("姜", 40),
    ("崔", 40),
    ("钟", 40),
    ("谭", 30),
    ("陆", 30),
    ("汪", 30),
    ("范", 30),
    ("金", 30),
    ("石", 30),
    ("廖", 30),
    ("贾", 30),
    ("夏", 30),
    ("韦", 30),
    ("付", 30),
    ("方", 30),
    ("白", 30),
    ("邹", 30),
    ("孟", 30),
    ("熊", 30),
    ("秦", 30),
    ("邱", 30),
    ("江", 30),
    ("尹", 30),
    ("薛", 20),
    ("闫", 20),
    ("段", 20),
    ("雷", 20),
    ("侯", 20),
    ("龙", 20),
    ("史", 20),
    ("陶", 20),
    ("黎", 20),
    ("贺", 20),
    ("顾", 20),
    ("毛", 20),
    ("郝", 20),
    ("龚", 20),
    ("邵", 20),
    ("万", 20),
    ("钱", 20),
    ("严", 20),
    ("覃", 20),
    ("武", 20),
    ("戴", 20),
    ("莫", 20),
    ("孔", 20),
    ("向", 20),
    ("汤", 20),
    ("欧阳", 5),
    ("上官", 1),
    ("司马", 1),
    ("诸葛", 1),
];

/// Given-name characters for men born before 1980.
pub(crate) const MALE_OLD: &[&str] = &[
    "建", "国", "军", "华", "明", "平", "伟", "强", "林", "文", "志", "勇", "刚", "红", "海", "春",
    "永", "德", "宏", "成", "忠", "福", "胜", "荣", "新", "兵", "民", "庆", "学", "东",
];

/// Given-name characters for men born from 1980.
pub(crate) const MALE_NEW: &[&str] = &[
    "伟", "磊", "杰", "涛", "斌", "超", "鹏", "飞", "鑫", "波", "宇", "浩", "凯", "健", "俊", "帆",
    "帅", "旭", "宁", "龙", "阳", "博", "晨", "峰", "亮", "轩", "然", "睿", "泽", "航", "子", "梓",
    "一", "辰", "逸", "铭", "昊", "天", "嘉", "思",
];

/// Given-name characters for women born before 1980.
pub(crate) const FEMALE_OLD: &[&str] = &[
    "秀", "英", "桂", "芳", "兰", "珍", "淑", "玉", "凤", "华", "红", "梅", "丽", "萍", "霞", "琴",
    "云", "莲", "春", "燕", "敏", "静", "芬", "荣", "美", "翠", "娟", "惠", "月", "爱",
];

/// Given-name characters for women born from 1980.
pub(crate) const FEMALE_NEW: &[&str] = &[
    "娜", "敏", "静", "丽", "艳", "娟", "婷", "雪", "琳", "晶", "颖", "慧", "洁", "倩", "欣", "佳",
    "蕾", "怡", "萱", "雨", "涵", "诗", "梦", "悦", "琪", "瑶", "馨", "彤", "可", "晴", "子", "思",
    "若", "紫", "一", "文", "心", "安", "语", "嘉",
];

/// Mobile number segments (first three digits) of China Mobile, China Unicom, China Telecom
/// and China Broadnet, weighted roughly by the carriers' subscriber shares.
pub(crate) const PHONE_PREFIXES: &[(&str, u32)] = &[
    // China Mobile
    ("134", 5),
    ("135", 7),
    ("136", 7),
    ("137", 7),
    ("138", 8),
    ("139", 8),
    ("147", 2),
    ("150", 5),
    ("151", 5),
    ("152", 5),
    ("157", 3),
    ("158", 5),
    ("159", 5),
    ("172", 1),
    ("178", 3),
    ("182", 4),
    ("183", 4),
    ("184", 2),
    ("187", 4),
    ("188", 4),
    ("195", 1),
    ("197", 1),
    ("198", 3),
    // China Unicom
    ("130", 5),
    ("131", 5),
    ("132", 5),
    ("145", 1),
    ("155", 4),
    ("156", 4),
    ("166", 3),
    ("175", 2),
    ("176", 3),
    ("185", 4),
    ("186", 5),
    ("196", 1),
    // China Telecom
    ("133", 5),
    ("149", 1),
    ("153", 4),
    ("173", 3),
    ("177", 3),
    ("180", 4),
    ("181", 4),
    ("189", 5),
    ("190", 1),
    ("191", 2),
    ("193", 1),
    ("199", 3),
    // China Broadnet
    ("192", 1),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_distinct_mobile_segments() {
        let mut seen = std::collections::HashSet::new();
        for (p, w) in PHONE_PREFIXES {
            assert!(seen.insert(*p), "{p}");
            assert!(*w > 0);
            let phone = format!("{p}00000000");
            assert!(chaka_core::Phone::parse(&phone).is_ok());
        }
    }

    #[test]
    fn names_are_not_empty() {
        for pool in [MALE_OLD, MALE_NEW, FEMALE_OLD, FEMALE_NEW] {
            assert!(pool.len() >= 20);
        }
        assert!(SURNAMES.len() >= 100);
    }
}
