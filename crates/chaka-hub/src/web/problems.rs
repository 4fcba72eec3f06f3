//! The texts that explain a refusal, as `(key, 中文, English)`: `err.<problem code>` for every
//! code of [`crate::error::codes::ALL`] (a unit test of `page` checks that none is missing),
//! and the sentences that add a refusal's members (tries left, until when).

/// The table.
pub static PROBLEM_TEXTS: &[(&str, &str, &str)] = &[
    ("err.attempts_left", "还可尝试 {n} 次。", "{n} tries left."),
    ("err.until", "截至 {t}。", "Until {t}."),
    (
        "err.invalid_request",
        "提交的内容有误，请检查后重试。",
        "Something in the form is not right; check it and try again.",
    ),
    (
        "err.body_too_large",
        "提交的内容过长。",
        "What was sent is too long.",
    ),
    (
        "err.unsupported_media_type",
        "提交方式有误，请刷新页面后重试。",
        "The form was sent the wrong way; reload the page and try again.",
    ),
    (
        "err.invalid_name",
        "姓名格式不正确（1–32 个字，不含数字和符号）。",
        "The name is not valid (1 to 32 letters, no digits or symbols).",
    ),
    (
        "err.invalid_id_number",
        "身份证号码不正确，请核对。",
        "The ID number is not valid; check it.",
    ),
    (
        "err.invalid_phone",
        "手机号码不正确，请输入 11 位中国大陆手机号。",
        "The mobile number is not valid: enter an 11-digit mainland number.",
    ),
    (
        "err.weak_password",
        "登录密码太简单：至少 8 位，包含字母和数字。",
        "The password is too weak: at least 8 characters, with letters and digits.",
    ),
    (
        "err.weak_pin",
        "支付密码太简单（重复、连续、生日或证件号、手机号后 6 位），请换一个。",
        "The PIN is too easy to guess (repeated, sequential, a birth date, or the end of your ID or phone): choose another.",
    ),
    (
        "err.invalid_code",
        "验证码不正确。",
        "The SMS code is wrong.",
    ),
    (
        "err.no_code",
        "验证码无效或已过期，请重新获取。",
        "No valid code: ask for a new one.",
    ),
    (
        "err.too_many_codes",
        "获取验证码过于频繁，请稍后再试。",
        "Too many codes: wait a little and try again.",
    ),
    (
        "err.identity_mismatch",
        "实名信息核验未通过：姓名、身份证号与手机号不一致。",
        "The identity check failed: the name, ID number and phone do not match.",
    ),
    (
        "err.identity_unavailable",
        "实名核验服务暂时不可用，请稍后再试。",
        "The identity check is unavailable; try again later.",
    ),
    (
        "err.id_number_registered",
        "该身份证号已注册。",
        "An account already exists for this ID number.",
    ),
    (
        "err.phone_registered",
        "该手机号已注册。",
        "An account already uses this mobile number.",
    ),
    ("err.unauthenticated", "请先登录。", "Log in first."),
    (
        "err.wrong_credentials",
        "手机号或登录密码错误。",
        "The phone number or password is wrong.",
    ),
    (
        "err.wrong_password",
        "登录密码错误。",
        "The password is wrong.",
    ),
    (
        "err.csrf",
        "页面已过期，请刷新后重试。",
        "This page has expired: reload it and try again.",
    ),
    (
        "err.pin_not_set",
        "请先设置支付密码。",
        "Set a payment PIN first.",
    ),
    (
        "err.pin_already_set",
        "支付密码已设置，可以修改或重置。",
        "A payment PIN is set: change or reset it instead.",
    ),
    (
        "err.wrong_pin",
        "支付密码错误。",
        "The payment PIN is wrong.",
    ),
    (
        "err.pin_locked",
        "支付密码错误次数过多，查看报告已锁定。",
        "Too many wrong PINs: opening reports is locked.",
    ),
    (
        "err.not_verified",
        "账户未完成实名认证。",
        "The account is not verified.",
    ),
    (
        "err.region_not_open",
        "您所在的地区暂未开通。",
        "The service is not open in your region yet.",
    ),
    (
        "err.bank_not_open",
        "所选银行暂未对您所在地区开通。",
        "A selected bank is not open to your region.",
    ),
    (
        "err.no_banks_selected",
        "请至少选择一家银行。",
        "Select at least one bank.",
    ),
    (
        "err.consent_outdated",
        "授权书已更新，请重新阅读并同意。",
        "The authorization has changed: read and accept it again.",
    ),
    (
        "err.inquiry_in_flight",
        "您已有一个正在进行的查询。",
        "A lookup is already in progress.",
    ),
    (
        "err.cooling_down",
        "上次报告生成后 7 天内不能再次查询。",
        "A new lookup is possible 7 days after the last report.",
    ),
    (
        "err.phone_recently_changed",
        "手机号更换后 7 天内不能查卡。",
        "No lookups for 7 days after a phone change.",
    ),
    (
        "err.idempotency_key_missing",
        "请求缺少标识，请刷新页面后重试。",
        "The request lacks its key; reload the page and try again.",
    ),
    (
        "err.idempotency_key_reused",
        "该表单已提交过不同的内容，请刷新页面后重试。",
        "This form was already sent with other choices; reload the page.",
    ),
    ("err.not_found", "页面不存在。", "There is no such page."),
    (
        "err.method_not_allowed",
        "不支持该操作。",
        "This page does not take that action.",
    ),
    (
        "err.report_not_ready",
        "报告尚未生成。",
        "The report is not ready yet.",
    ),
    (
        "err.report_gone",
        "报告已于生成 7 天后删除。",
        "The report was deleted 7 days after it was generated.",
    ),
    (
        "err.report_unreadable",
        "支付密码重置后，此前的报告无法打开。",
        "This report cannot be opened since the PIN was reset.",
    ),
    (
        "err.not_ready",
        "服务暂时不可用，请稍后再试。",
        "The service cannot answer now; try again later.",
    ),
    (
        "err.internal",
        "系统繁忙，未做任何更改，请稍后再试。",
        "Something went wrong on our side; nothing was changed. Try again later.",
    ),
];
