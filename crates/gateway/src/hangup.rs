//! The hangup decision: the `hangupGcode` / `hangupGname` a call is reported
//! with, from how it ended ([`Ending`]) and what its early media showed
//! ([`Heard`]), per the platform spec (`hangup-codes.md`, which cites the
//! platform manual's tables 挂机原因枚举 and 话后状态cause说明).
//!
//! Precedence ([`decide`]):
//!
//! 1. answered → 0 正常结束, whatever the media said;
//! 2. else the code the classifier committed in early media;
//! 3. else the Q.850 cause of the carrier's `Reason` header (RFC 3326),
//!    as 1000 + cause when the platform's cause table has that row;
//! 4. else the carrier's SIP status (or the caller's CANCEL, or a
//!    transaction timeout), through [`SIP_STATUS_CODES`];
//! 5. else the gateway's own: 1000 呼叫失败, 1900 资源不足, 1901 系统配置错误,
//!    4003 黑名单用户, and 8888 其他 when nothing applies.
//!
//! One exception keeps a wrong code out of the report: when the early media
//! held speech that matched no announcement (`unknown_speech`) and the
//! signalling only gives a generic cause ([`GENERIC_CODES`]: cancelled, not
//! answered, timed out, unspecified), the code stays empty ("为空表示未识别到")
//! and the recording is kept for labelling. "No code is far better than a
//! wrong one": a customer stops calling a number reported as 空号.
//!
//! The tables are data (`const` arrays looked up by key), not `match` ladders.

use tonegate_classify::{Code, Label};

/// `(hangupGcode, hangupGname)` for every code the platform defines except
/// the 18 heard in early media (2101-2118, named by `tonegate_classify::Code`),
/// sorted by code. The names are byte for byte those of the spec and the manual.
///
/// Where the manual's two tables disagree, the hangupGname table
/// (挂机原因枚举, the one the spec follows) wins over the post-call cause
/// table (话后状态cause说明): 1029 拒接 (not 被叫拒接), 2115 号码不正确 (not
/// 号码错误), 3005 直呼未找到回拨信息, 3100 直呼转接失败, 8888 其他 (not
/// 未找到该错误原因). 0 is 正常结束 (the cause table also lists it as 成功 and
/// 空). 1004 is 找不到路由 (the `NO_ROUTE` row; the manual's other 1004 row,
/// "No such channel! 呼叫不存在", is an API error message, not a hangup cause).
const NAMES: [(u16, &str); 111] = [
    (0, "正常结束"),
    (901, "session超时"),
    (902, "发起呼叫超时"),
    (1000, "呼叫失败"),
    (1001, "主叫号码不可用"),
    (1002, "被叫号码不可用"),
    (1003, "找不到被叫"),
    (1004, "找不到路由"),
    (1006, "通话失败"),
    (1007, "呼叫前转"),
    (1016, "被叫未应答"),
    (1017, "用户忙"),
    (1018, "被叫无响应"),
    (1019, "久叫不应"),
    (1020, "被叫号码无效"),
    (1021, "拒绝应答"),
    (1022, "号码改变"),
    (1023, "重定向到新的号码"),
    (1025, "路由错误"),
    (1027, "呼叫受限"),
    (1028, "无效的号码格式"),
    (1029, "拒接"),
    (1030, "状态查询响应"),
    (1031, "未指定错误"),
    (1034, "通信电路错误"),
    (1038, "网络不可达"),
    (1041, "临时故障"),
    (1042, "交换机繁忙"),
    (1043, "访问信息被丢弃"),
    (1044, "请求不可用"),
    (1045, "空"),
    (1050, "设备受限"),
    (1052, "外呼阻塞"),
    (1054, "呼入阻塞"),
    (1057, "承载能力未经授权"),
    (1058, "目前暂不提供承载能力"),
    (1063, "服务不可用"),
    (1065, "没有权限使用该功能"),
    (1066, "话机未注册"),
    (1067, "找不到路由"),
    (1069, "设备不支持所请求的服务"),
    (1079, "未实现所请求的服务"),
    (1081, "当前网络不支持此功能"),
    (1088, "不兼容的目的地"),
    (1095, "无效消息"),
    (1096, "消息不完整"),
    (1097, "无法识别的消息类型"),
    (1098, "当前状态下不能处理该消息"),
    (1099, "未识别的参数"),
    (1100, "编码未实现"),
    (1101, "消息与呼叫状态不兼容"),
    (1102, "呼叫超时"),
    (1103, "参数不存在或未实现"),
    (1111, "协议错误"),
    (1127, "已完成互通呼叫"),
    (1128, "未获取到码号配置"),
    (1129, "找不到fs"),
    (1401, "文件不存在"),
    (1402, "放音失败"),
    (1487, "呼叫取消"),
    (1500, "紧急故障"),
    (1501, "系统关闭"),
    (1502, "丢失呼叫"),
    (1503, "强制挂机"),
    (1600, "盲转"),
    (1601, "咨询转"),
    (1602, "分配超时"),
    (1603, "用户竞争"),
    (1604, "媒体超时"),
    (1605, "被拦截"),
    (1607, "振铃超时"),
    (1608, "网关不可用"),
    (1609, "网关关闭"),
    (1610, "错误的URL"),
    (1611, "错误的配置"),
    (1612, "没有摘机"),
    (1613, "SRTP读取错误"),
    (1614, "未获取到可用网关"),
    (1615, "无效的uuid"),
    (1900, "资源不足"),
    (1901, "系统配置错误"),
    (1902, "双向回呼主叫失败"),
    (1903, "双向回呼被叫失败"),
    (2000, "机器人呼叫失败"),
    (2002, "转接到的模块不在线"),
    (2003, "机器人配置错误"),
    (2004, "机器人转接失败"),
    (2005, "机器人响应超时"),
    (2119, "排队放弃"),
    (2126, "排队溢出"),
    (2131, "分机号错误"),
    (2133, "分机未注册"),
    (2134, "分机不允许呼叫自己"),
    (2135, "呼叫坐席超过上限"),
    (2136, "分机未登录"),
    (2137, "座席未登录"),
    (3000, "无法停止录音"),
    (3001, "未找到绑定的隐私号信息"),
    (3002, "隐私号绑定信息有误"),
    (3003, "外显号码池为空"),
    (3004, "隐私号小号为空"),
    (3005, "直呼未找到回拨信息"),
    (3100, "直呼转接失败"),
    (3200, "直呼未找到绑定信息"),
    (3201, "直呼绑定信息有误"),
    (4001, "全局黑名单"),
    (4002, "技能组黑名单"),
    (4003, "黑名单用户"),
    (5000, "sip转隐私号失败"),
    (6001, "高频限制"),
    (8888, "其他"),
];

/// The Q.850 causes a `Reason` header may carry that map to 1000 + cause,
/// with the platform's FreeSWITCH-style name for the row: every row of the
/// platform's cause table numbered 1001..=1127, except three whose number
/// does not mean that Q.850 cause (a wrong code is worse than none; such a
/// cause falls through to the SIP status):
///
/// - 1004 `NO_ROUTE` 找不到路由: Q.850 cause 4 is "send special information
///   tone"; FreeSWITCH has no cause 4, and the manual gives 1004 a second,
///   conflicting name.
/// - 1066 `USER_NOT_REGISTERED` 话机未注册 and 1067 `CHAN_NOT_IMPLEMENTED`:
///   Q.850 cause 66 is "channel type not implemented" (FreeSWITCH's
///   `CHAN_NOT_IMPLEMENTED` = 66; its `USER_NOT_REGISTERED` is the internal
///   606) and there is no Q.850 cause 67: the two rows are shifted.
///
/// Cause 16 (normal call clearing) maps to the platform's 1016 `CAUSE480`
/// 被叫未应答: on a failure response it says the call ended unanswered.
const Q850_CAUSES: [(u16, &str); 48] = [
    (1, "UNALLOCATED_NUMBER"),
    (2, "NO_ROUTE_TRANSIT_NET"),
    (3, "NO_ROUTE_DESTINATION"),
    (6, "CHANNEL_UNACCEPTABLE"),
    (7, "CALL_AWARDED_DELIVERED"),
    (16, "CAUSE480"),
    (17, "USER_BUSY"),
    (18, "NO_USER_RESPONSE"),
    (19, "NO_ANSWER"),
    (20, "SUBSCRIBER_ABSENT"),
    (21, "CALL_REJECTED"),
    (22, "NUMBER_CHANGED"),
    (23, "REDIRECTION_TO_NEW_DESTINATION"),
    (25, "EXCHANGE_ROUTING_ERROR"),
    (27, "DESTINATION_OUT_OF_ORDER"),
    (28, "INVALID_NUMBER_FORMAT"),
    (29, "FACILITY_REJECTED"),
    (30, "RESPONSE_TO_STATUS_ENQUIRY"),
    (31, "NORMAL_UNSPECIFIED"),
    (34, "NORMAL_CIRCUIT_CONGESTION"),
    (38, "NETWORK_OUT_OF_ORDER"),
    (41, "NORMAL_TEMPORARY_FAILURE"),
    (42, "SWITCH_CONGESTION"),
    (43, "ACCESS_INFO_DISCARDED"),
    (44, "REQUESTED_CHAN_UNAVAIL"),
    (45, "PRE_EMPTED"),
    (50, "FACILITY_NOT_SUBSCRIBED"),
    (52, "OUTGOING_CALL_BARRED"),
    (54, "INCOMING_CALL_BARRED"),
    (57, "BEARERCAPABILITY_NOTAUTH"),
    (58, "BEARERCAPABILITY_NOTAVAIL"),
    (63, "SERVICE_UNAVAILABLE"),
    (65, "BEARERCAPABILITY_NOTIMPL"),
    (69, "FACILITY_NOT_IMPLEMENTED"),
    (79, "SERVICE_NOT_IMPLEMENTED"),
    (81, "INVALID_CALL_REFERENCE"),
    (88, "INCOMPATIBLE_DESTINATION"),
    (95, "INVALID_MSG_UNSPECIFIED"),
    (96, "MANDATORY_IE_MISSING"),
    (97, "MESSAGE_TYPE_NONEXIST"),
    (98, "WRONG_MESSAGE"),
    (99, "IE_NONEXIST"),
    (100, "INVALID_IE_CONTENTS"),
    (101, "WRONG_CALL_STATE"),
    (102, "RECOVERY_ON_TIMER_EXPIRE"),
    (103, "MANDATORY_IE_LENGTH_ERROR"),
    (111, "PROTOCOL_ERROR"),
    (127, "INTERWORKING"),
];

/// `(SIP status, hangupGcode)`: every status of the spec's signalling table.
/// (Where FreeSWITCH differs — 408 and 480, 603 and 608 — the spec wins.)
const SIP_STATUS_CODES: [(u16, u16); 38] = [
    (400, 1041),
    (401, 1021),
    (402, 1021),
    (403, 1021),
    (404, 1001),
    (405, 1063),
    (406, 1079),
    (407, 1021),
    (408, 1018),
    (410, 1022),
    (413, 1127),
    (414, 1127),
    (415, 1079),
    (416, 1127),
    (420, 1127),
    (421, 1127),
    (423, 1127),
    (480, 1016),
    (481, 1041),
    (482, 1025),
    (483, 1025),
    (484, 1028),
    (485, 1003),
    (486, 1017),
    (487, 1487),
    (488, 1088),
    (500, 1041),
    (501, 1079),
    (502, 1038),
    (503, 1041),
    (504, 1102),
    (505, 1127),
    (513, 1127),
    (600, 1017),
    (603, 1029),
    (604, 1003),
    (606, 1088),
    (608, 1029),
];

/// A 4xx/5xx/6xx final status the table above does not list: FreeSWITCH
/// (`sofia_glue_sip_cause_to_freeswitch`) has no per-class default, every
/// unlisted status becomes `NORMAL_UNSPECIFIED` (Q.850 31), the platform's
/// 1031 未指定错误. Anything else in a final response (1xx, 2xx, 3xx: not a
/// failure the gateway relays) is left to 8888 其他.
const UNLISTED_FAILURE: u16 = 1031;

/// The codes that say only that the call failed, not why: cancelled by the
/// caller (1487), not answered (1016: 480 without Reason, or Q.850 16 normal
/// clearing), a timer expired (1102: transaction timeout, 504, Q.850 102),
/// unspecified (1031: an unlisted status, or Q.850 31) and nothing applies
/// (8888). Reported as is, except after `unknown_speech` (see [`decide`]).
const GENERIC_CODES: [u16; 5] = [1016, 1031, 1102, 1487, 8888];

/// Gateway codes.
const TRANSPORT_FAILURE: u16 = 1000;
const CALLER_CANCEL: u16 = 1487;
const TRANSACTION_TIMEOUT: u16 = 1102;
const LIMIT: u16 = 1900;
const NO_ROUTE: u16 = 1901;
const BLACKLISTED: u16 = 4003;
const OTHER: u16 = 8888;

/// Looks `key` up in a `(key, value)` table.
fn lookup<V: Copy>(table: &[(u16, V)], key: u16) -> Option<V> {
    table.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

/// How the call ended, as the gateway saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// The carrier's 200 was relayed: code 0 whatever happens later.
    Answered,
    /// The carrier's final failure response (or its BYE of the early dialog,
    /// reported as 480).
    CarrierFinal {
        /// Its status.
        status: u16,
        /// Its raw `Reason` header value(s), several headers joined with
        /// ", ", if any.
        reason: Option<String>,
    },
    /// The customer cancelled (CANCEL, or BYE on the early dialog): 1487
    /// 呼叫取消 unless the media heard a code.
    CallerCancel,
    /// No final response from the carrier (Timer B) or a gateway ring timer:
    /// 1102 呼叫超时, the spec's "transaction timeout" row. Not 1018 被叫无响应:
    /// that is the row of a 408 the carrier sends (it then arrives as
    /// [`Ending::CarrierFinal`]). Not 1019 久叫不应 either: the gateway cannot
    /// tell that the callee was alerted; that code comes from the carrier's
    /// Q.850 cause 19.
    Timeout,
    /// The carrier leg failed at transport level: 1000 呼叫失败.
    TransportFailure,
    /// A concurrency, CPS or RTP-port limit was hit: 1900 资源不足.
    Limit,
    /// No route / trunk configuration for the call: 1901 系统配置错误.
    // 1901 and 4003 are rows of the spec's table no event produces yet: a
    // call from an unknown source has no trunk (no callback) to report to,
    // and there is no blacklist. Kept so the table is whole and tested.
    #[cfg_attr(not(test), allow(dead_code))]
    NoRoute,
    /// Blocked by a blacklist: 4003 黑名单用户.
    #[cfg_attr(not(test), allow(dead_code))]
    Blacklisted,
    /// The gateway released the call itself on a code heard in early media.
    EarlyRelease {
        /// The heard code (2101..=2118).
        code: u16,
    },
}

/// What the early media showed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Heard {
    /// The code the classifier committed, if any.
    pub code: Option<u16>,
    /// What it heard: `announcement`, `unknown_speech`, `ringback`,
    /// `unsupported_codec`, ...
    pub label: Option<String>,
}

/// Where a verdict's code came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The call was answered (code 0).
    Answered,
    /// Heard in early media (including the gateway's release on it).
    Media,
    /// The Q.850 cause of the carrier's `Reason` header.
    Q850,
    /// SIP signalling: the carrier's final status, the caller's CANCEL or a
    /// transaction timeout (rows of the spec's signalling table).
    SipStatus,
    /// The gateway's own: 1000, 1900, 1901, 4003, and 8888 when nothing applies.
    Gateway,
    /// No code: the early media held something the classifier could not
    /// name and signalling did not say why (the manual's "为空表示未识别到").
    Unrecognised,
}

/// The decision, with what it was made from so a customer can audit it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The `hangupGcode`, `None` when not recognised.
    pub code: Option<u16>,
    /// The `hangupGname` of `code`.
    pub name: Option<&'static str>,
    /// Where `code` came from.
    pub source: Source,
    /// The Q.850 cause of the carrier's `Reason` header, if it had one
    /// (whether or not it decided the code).
    pub q850: Option<u16>,
    /// The carrier's final status, for [`Ending::CarrierFinal`] only.
    pub sip_status: Option<u16>,
}

/// The hangup decision (see the module docs for the precedence).
///
/// Choices where the spec is silent:
/// - a heard code the classifier cannot hear (outside 2101..=2118) is
///   ignored and signalling decides; an [`Ending::EarlyRelease`] on such a
///   code is [`Source::Unrecognised`];
/// - when both the media and an [`Ending::EarlyRelease`] carry a code, the
///   media's wins (they come from the same decision);
/// - `unknown_speech` blanks the code when the signalling's code is generic
///   ([`GENERIC_CODES`]): the caller's CANCEL, a 480 or 487 without a mapped
///   Q.850 cause, a timeout, and likewise 504, an unlisted status, Q.850
///   causes 16, 31 and 102, and 8888. A specific status (486, 404, 603, ...)
///   or a specific Q.850 cause (17, 19, ...) still decides, and so do the
///   gateway's own 1000, 1900, 1901 and 4003.
pub fn decide(ending: &Ending, heard: &Heard) -> Verdict {
    let (sip_status, q850) = match ending {
        Ending::CarrierFinal { status, reason } => {
            (Some(*status), reason.as_deref().and_then(q850_cause))
        }
        _ => (None, None),
    };
    let verdict = |code: Option<u16>, source: Source| Verdict {
        code,
        name: code.and_then(name),
        source,
        q850,
        sip_status,
    };

    if *ending == Ending::Answered {
        return verdict(Some(0), Source::Answered);
    }
    if let Some(code) = heard.code.and_then(Code::new) {
        return verdict(Some(code.get()), Source::Media);
    }
    let Some((code, source)) = from_signalling(ending, q850) else {
        return verdict(None, Source::Unrecognised);
    };
    let unknown_speech = heard.label.as_deref() == Some(Label::UnknownSpeech.as_str());
    if unknown_speech && source != Source::Media && GENERIC_CODES.contains(&code) {
        return verdict(None, Source::Unrecognised);
    }
    verdict(Some(code), source)
}

/// The code signalling (or the gateway) gives for an unanswered call whose
/// media heard no code; `None` for an early release on a code the
/// classifier cannot hear.
fn from_signalling(ending: &Ending, q850: Option<u16>) -> Option<(u16, Source)> {
    let gateway = |code| Some((code, Source::Gateway));
    match ending {
        Ending::Answered => Some((0, Source::Answered)),
        Ending::CarrierFinal { status, .. } => {
            if let Some(cause) = q850.filter(|c| lookup(&Q850_CAUSES, *c).is_some()) {
                return Some((1000 + cause, Source::Q850));
            }
            if let Some(code) = lookup(&SIP_STATUS_CODES, *status) {
                return Some((code, Source::SipStatus));
            }
            if (400..=699).contains(status) {
                return Some((UNLISTED_FAILURE, Source::SipStatus));
            }
            gateway(OTHER)
        }
        Ending::CallerCancel => Some((CALLER_CANCEL, Source::SipStatus)),
        Ending::Timeout => Some((TRANSACTION_TIMEOUT, Source::SipStatus)),
        Ending::TransportFailure => gateway(TRANSPORT_FAILURE),
        Ending::Limit => gateway(LIMIT),
        Ending::NoRoute => gateway(NO_ROUTE),
        Ending::Blacklisted => gateway(BLACKLISTED),
        Ending::EarlyRelease { code } => Code::new(*code).map(|c| (c.get(), Source::Media)),
    }
}

/// RFC 3326 Reason header value(s): the Q.850 cause if a `Q.850` protocol
/// value carries `cause=N` (case-insensitive protocol and param names,
/// quoted text allowed, several comma-separated values, the SIP protocol
/// value ignored).
///
/// The first `Q.850` value with a valid cause wins. A cause must be plain
/// decimal digits and a Q.850 cause value (1..=127); anything else is junk
/// and yields `None` for that value.
pub fn q850_cause(reason: &str) -> Option<u16> {
    split_unquoted(reason, ',').into_iter().find_map(|value| {
        let mut parts = split_unquoted(value, ';').into_iter();
        let protocol = parts.next()?.trim();
        if !protocol.eq_ignore_ascii_case("Q.850") {
            return None;
        }
        parts.find_map(|param| {
            let (key, val) = param.split_once('=')?;
            if !key.trim().eq_ignore_ascii_case("cause") {
                return None;
            }
            let val = val.trim();
            if val.is_empty() || val.len() > 5 || !val.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            val.parse::<u16>().ok().filter(|c| (1..=127).contains(c))
        })
    })
}

/// `s` split on `sep` outside quoted strings (`"..."` with `\` escapes).
fn split_unquoted(s: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
        } else if quoted && c == '\\' {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
        } else if c == sep && !quoted {
            parts.push(&s[start..i]);
            start = i + c.len_utf8();
        }
    }
    parts.push(&s[start..]);
    parts
}

/// The hangupGname of any code the platform defines (0, 1000.., 2101..2118,
/// 1900, 1901, 4003, 8888, ...).
pub fn name(code: u16) -> Option<&'static str> {
    // The codes heard in early media are named by the classifier's table
    // (one copy of those names); the rest by this module's.
    Code::new(code)
        .map(Code::name)
        .or_else(|| lookup(&NAMES, code))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn carrier(status: u16, reason: Option<&str>) -> Ending {
        Ending::CarrierFinal {
            status,
            reason: reason.map(str::to_owned),
        }
    }

    fn heard(code: Option<u16>, label: Option<&str>) -> Heard {
        Heard {
            code,
            label: label.map(str::to_owned),
        }
    }

    const NOTHING: (Option<u16>, Option<&str>) = (None, None);
    const UNKNOWN_SPEECH: (Option<u16>, Option<&str>) = (None, Some("unknown_speech"));

    /// One decision: what, how it ended, what was heard → code, name, source.
    type Case = (
        &'static str,
        Ending,
        (Option<u16>, Option<&'static str>),
        Option<u16>,
        Option<&'static str>,
        Source,
    );

    fn check(cases: Vec<Case>) {
        for (what, ending, (code, label), want_code, want_name, want_source) in cases {
            let v = decide(&ending, &heard(code, label));
            assert_eq!(
                (v.code, v.name, v.source),
                (want_code, want_name, want_source),
                "{what}: {ending:?}"
            );
            assert_eq!(v.name, v.code.and_then(name), "{what}: name of the code");
        }
    }

    #[test]
    fn every_status_of_the_signalling_table() {
        use Source::SipStatus as S;
        let rows: [(u16, u16, &str); 38] = [
            (404, 1001, "主叫号码不可用"),
            (485, 1003, "找不到被叫"),
            (604, 1003, "找不到被叫"),
            (480, 1016, "被叫未应答"),
            (486, 1017, "用户忙"),
            (600, 1017, "用户忙"),
            (408, 1018, "被叫无响应"),
            (401, 1021, "拒绝应答"),
            (402, 1021, "拒绝应答"),
            (403, 1021, "拒绝应答"),
            (407, 1021, "拒绝应答"),
            (410, 1022, "号码改变"),
            (482, 1025, "路由错误"),
            (483, 1025, "路由错误"),
            (484, 1028, "无效的号码格式"),
            (603, 1029, "拒接"),
            (608, 1029, "拒接"),
            (502, 1038, "网络不可达"),
            (400, 1041, "临时故障"),
            (481, 1041, "临时故障"),
            (500, 1041, "临时故障"),
            (503, 1041, "临时故障"),
            (405, 1063, "服务不可用"),
            (406, 1079, "未实现所请求的服务"),
            (415, 1079, "未实现所请求的服务"),
            (501, 1079, "未实现所请求的服务"),
            (488, 1088, "不兼容的目的地"),
            (606, 1088, "不兼容的目的地"),
            (504, 1102, "呼叫超时"),
            (413, 1127, "已完成互通呼叫"),
            (414, 1127, "已完成互通呼叫"),
            (416, 1127, "已完成互通呼叫"),
            (420, 1127, "已完成互通呼叫"),
            (421, 1127, "已完成互通呼叫"),
            (423, 1127, "已完成互通呼叫"),
            (505, 1127, "已完成互通呼叫"),
            (513, 1127, "已完成互通呼叫"),
            (487, 1487, "呼叫取消"),
        ];
        let cases = rows
            .iter()
            .map(|&(status, code, gname)| -> Case {
                (
                    "status",
                    carrier(status, None),
                    NOTHING,
                    Some(code),
                    Some(gname),
                    S,
                )
            })
            .collect();
        check(cases);
        // The test table is the code table.
        assert_eq!(rows.len(), SIP_STATUS_CODES.len());
        for (status, code) in SIP_STATUS_CODES {
            assert!(
                rows.contains(&(status, code, name(code).unwrap())),
                "{status}"
            );
        }
    }

    #[test]
    fn every_cause_of_the_signalling_table_via_q850_reason() {
        // Status 500 alone would be 1041: the Reason's cause wins.
        let rows: [(&str, u16, &str); 19] = [
            ("Q.850;cause=1", 1001, "主叫号码不可用"),
            ("Q.850;cause=3", 1003, "找不到被叫"),
            ("Q.850;cause=16", 1016, "被叫未应答"),
            ("Q.850;cause=17", 1017, "用户忙"),
            ("Q.850;cause=18", 1018, "被叫无响应"),
            ("Q.850;cause=19", 1019, "久叫不应"),
            ("Q.850;cause=21", 1021, "拒绝应答"),
            ("Q.850;cause=22", 1022, "号码改变"),
            ("Q.850;cause=25", 1025, "路由错误"),
            ("Q.850;cause=28", 1028, "无效的号码格式"),
            ("Q.850;cause=29", 1029, "拒接"),
            ("Q.850;cause=38", 1038, "网络不可达"),
            ("Q.850;cause=41", 1041, "临时故障"),
            ("Q.850;cause=63", 1063, "服务不可用"),
            ("Q.850;cause=79", 1079, "未实现所请求的服务"),
            ("Q.850;cause=88", 1088, "不兼容的目的地"),
            ("Q.850;cause=102", 1102, "呼叫超时"),
            ("Q.850;cause=127", 1127, "已完成互通呼叫"),
            // Other rows of the platform's cause table.
            ("Q.850;cause=27", 1027, "呼叫受限"),
        ];
        let cases = rows
            .iter()
            .map(|&(reason, code, gname)| -> Case {
                let e = carrier(500, Some(reason));
                ("q850", e, NOTHING, Some(code), Some(gname), Source::Q850)
            })
            .collect();
        check(cases);
    }

    #[test]
    fn gateway_rows_and_endings() {
        use Source::{Gateway as G, Media as M, SipStatus as S};
        check(vec![
            (
                "answered",
                Ending::Answered,
                NOTHING,
                Some(0),
                Some("正常结束"),
                Source::Answered,
            ),
            (
                "cancel",
                Ending::CallerCancel,
                NOTHING,
                Some(1487),
                Some("呼叫取消"),
                S,
            ),
            (
                "timer B",
                Ending::Timeout,
                NOTHING,
                Some(1102),
                Some("呼叫超时"),
                S,
            ),
            (
                "transport",
                Ending::TransportFailure,
                NOTHING,
                Some(1000),
                Some("呼叫失败"),
                G,
            ),
            (
                "limit",
                Ending::Limit,
                NOTHING,
                Some(1900),
                Some("资源不足"),
                G,
            ),
            (
                "no route",
                Ending::NoRoute,
                NOTHING,
                Some(1901),
                Some("系统配置错误"),
                G,
            ),
            (
                "blacklist",
                Ending::Blacklisted,
                NOTHING,
                Some(4003),
                Some("黑名单用户"),
                G,
            ),
            (
                "early release",
                Ending::EarlyRelease { code: 2114 },
                NOTHING,
                Some(2114),
                Some("空号"),
                M,
            ),
            (
                "early release on a code nobody hears",
                Ending::EarlyRelease { code: 1017 },
                NOTHING,
                None,
                None,
                Source::Unrecognised,
            ),
            (
                "unlisted 4xx: FreeSWITCH's NORMAL_UNSPECIFIED",
                carrier(499, None),
                NOTHING,
                Some(1031),
                Some("未指定错误"),
                S,
            ),
            (
                "unlisted 5xx",
                carrier(580, None),
                NOTHING,
                Some(1031),
                Some("未指定错误"),
                S,
            ),
            (
                "unlisted 6xx",
                carrier(699, None),
                NOTHING,
                Some(1031),
                Some("未指定错误"),
                S,
            ),
            (
                "3xx: nothing applies",
                carrier(302, None),
                NOTHING,
                Some(8888),
                Some("其他"),
                G,
            ),
            (
                "2xx as a failure",
                carrier(200, None),
                NOTHING,
                Some(8888),
                Some("其他"),
                G,
            ),
            (
                "1xx as a failure",
                carrier(183, None),
                NOTHING,
                Some(8888),
                Some("其他"),
                G,
            ),
            (
                "status 0",
                carrier(0, None),
                NOTHING,
                Some(8888),
                Some("其他"),
                G,
            ),
        ]);
    }

    #[test]
    fn precedence() {
        use Source::{Media as M, SipStatus as S, Q850 as Q};
        let busy = "Q.850;cause=17";
        check(vec![
            // answered beats heard beats Q.850 beats status.
            (
                "answered beats heard",
                Ending::Answered,
                (Some(2114), Some("announcement")),
                Some(0),
                Some("正常结束"),
                Source::Answered,
            ),
            (
                "answered beats unknown_speech",
                Ending::Answered,
                UNKNOWN_SPEECH,
                Some(0),
                Some("正常结束"),
                Source::Answered,
            ),
            (
                "heard beats Q.850 and status",
                carrier(486, Some(busy)),
                (Some(2109), Some("announcement")),
                Some(2109),
                Some("关机"),
                M,
            ),
            (
                "heard beats cancel",
                Ending::CallerCancel,
                (Some(2114), Some("announcement")),
                Some(2114),
                Some("空号"),
                M,
            ),
            (
                "heard beats timeout",
                Ending::Timeout,
                (Some(2101), Some("busy_tone")),
                Some(2101),
                Some("用户占线"),
                M,
            ),
            (
                "heard beats the gateway",
                Ending::TransportFailure,
                (Some(2103), Some("congestion_tone")),
                Some(2103),
                Some("网络忙"),
                M,
            ),
            (
                "heard beats the early release's own code",
                Ending::EarlyRelease { code: 2105 },
                (Some(2107), Some("announcement")),
                Some(2107),
                Some("停机"),
                M,
            ),
            (
                "Q.850 beats status",
                carrier(480, Some(busy)),
                NOTHING,
                Some(1017),
                Some("用户忙"),
                Q,
            ),
            (
                "Q.850 beats 487",
                carrier(487, Some("Q.850;cause=21")),
                NOTHING,
                Some(1021),
                Some("拒绝应答"),
                Q,
            ),
            (
                "Q.850 beats an unlisted status",
                carrier(499, Some("Q.850;cause=1")),
                NOTHING,
                Some(1001),
                Some("主叫号码不可用"),
                Q,
            ),
            (
                "Q.850 cause without a row: status decides",
                carrier(486, Some("Q.850;cause=5")),
                NOTHING,
                Some(1017),
                Some("用户忙"),
                S,
            ),
            (
                "Q.850 66 (platform row shifted): status decides",
                carrier(503, Some("Q.850;cause=66")),
                NOTHING,
                Some(1041),
                Some("临时故障"),
                S,
            ),
            (
                "Q.850 4 (no such FreeSWITCH cause): status decides",
                carrier(404, Some("Q.850;cause=4")),
                NOTHING,
                Some(1001),
                Some("主叫号码不可用"),
                S,
            ),
            (
                "SIP Reason only: status decides",
                carrier(486, Some("SIP;cause=600")),
                NOTHING,
                Some(1017),
                Some("用户忙"),
                S,
            ),
            (
                "junk Reason: status decides",
                carrier(404, Some("garbage;;;==")),
                NOTHING,
                Some(1001),
                Some("主叫号码不可用"),
                S,
            ),
            (
                "a heard code nobody hears is ignored",
                carrier(486, None),
                (Some(1001), Some("announcement")),
                Some(1017),
                Some("用户忙"),
                S,
            ),
            (
                "heard code 0 is ignored",
                Ending::Timeout,
                (Some(0), None),
                Some(1102),
                Some("呼叫超时"),
                S,
            ),
            (
                "other labels leave signalling alone",
                carrier(480, None),
                (None, Some("ringback")),
                Some(1016),
                Some("被叫未应答"),
                S,
            ),
            (
                "music",
                Ending::CallerCancel,
                (None, Some("music")),
                Some(1487),
                Some("呼叫取消"),
                S,
            ),
            (
                "unsupported codec",
                Ending::Timeout,
                (None, Some("unsupported_codec")),
                Some(1102),
                Some("呼叫超时"),
                S,
            ),
        ]);
    }

    #[test]
    fn unknown_speech_blanks_only_generic_signalling() {
        use Source::{Gateway as G, Media as M, SipStatus as S, Unrecognised as U, Q850 as Q};
        let u = UNKNOWN_SPEECH;
        check(vec![
            // Generic: no code, the recording goes to labelling.
            ("cancel", Ending::CallerCancel, u, None, None, U),
            ("480", carrier(480, None), u, None, None, U),
            (
                "480, SIP Reason only",
                carrier(480, Some("SIP;cause=480")),
                u,
                None,
                None,
                U,
            ),
            (
                "480, Q.850 without a row",
                carrier(480, Some("Q.850;cause=5")),
                u,
                None,
                None,
                U,
            ),
            (
                "480, Q.850 16",
                carrier(480, Some("Q.850;cause=16")),
                u,
                None,
                None,
                U,
            ),
            ("487", carrier(487, None), u, None, None, U),
            ("timeout", Ending::Timeout, u, None, None, U),
            ("504", carrier(504, None), u, None, None, U),
            (
                "Q.850 102",
                carrier(500, Some("Q.850;cause=102")),
                u,
                None,
                None,
                U,
            ),
            (
                "Q.850 31",
                carrier(500, Some("Q.850;cause=31")),
                u,
                None,
                None,
                U,
            ),
            ("unlisted status", carrier(499, None), u, None, None, U),
            ("nothing applies", carrier(302, None), u, None, None, U),
            // Specific: signalling decides.
            ("486", carrier(486, None), u, Some(1017), Some("用户忙"), S),
            (
                "404",
                carrier(404, None),
                u,
                Some(1001),
                Some("主叫号码不可用"),
                S,
            ),
            ("603", carrier(603, None), u, Some(1029), Some("拒接"), S),
            (
                "408",
                carrier(408, None),
                u,
                Some(1018),
                Some("被叫无响应"),
                S,
            ),
            (
                "503",
                carrier(503, None),
                u,
                Some(1041),
                Some("临时故障"),
                S,
            ),
            (
                "480 + Q.850 17",
                carrier(480, Some("Q.850;cause=17")),
                u,
                Some(1017),
                Some("用户忙"),
                Q,
            ),
            (
                "480 + Q.850 19",
                carrier(480, Some("Q.850;cause=19")),
                u,
                Some(1019),
                Some("久叫不应"),
                Q,
            ),
            (
                "487 + Q.850 1",
                carrier(487, Some("Q.850;cause=1")),
                u,
                Some(1001),
                Some("主叫号码不可用"),
                Q,
            ),
            (
                "transport",
                Ending::TransportFailure,
                u,
                Some(1000),
                Some("呼叫失败"),
                G,
            ),
            ("limit", Ending::Limit, u, Some(1900), Some("资源不足"), G),
            (
                "no route",
                Ending::NoRoute,
                u,
                Some(1901),
                Some("系统配置错误"),
                G,
            ),
            (
                "blacklist",
                Ending::Blacklisted,
                u,
                Some(4003),
                Some("黑名单用户"),
                G,
            ),
            (
                "early release",
                Ending::EarlyRelease { code: 2108 },
                u,
                Some(2108),
                Some("暂时无法接通"),
                M,
            ),
            (
                "a heard code",
                Ending::CallerCancel,
                (Some(2102), Some("unknown_speech")),
                Some(2102),
                Some("无人接听"),
                M,
            ),
        ]);
    }

    #[test]
    fn verdicts_carry_what_signalling_said() {
        let rows: [(Ending, Heard, Verdict); 4] = [
            (
                carrier(
                    486,
                    Some("SIP;cause=486, Q.850;cause=17;text=\"User busy\""),
                ),
                heard(Some(2101), Some("busy_tone")),
                Verdict {
                    code: Some(2101),
                    name: Some("用户占线"),
                    source: Source::Media,
                    q850: Some(17),
                    sip_status: Some(486),
                },
            ),
            (
                carrier(480, Some("Q.850;cause=5")),
                heard(None, Some("unknown_speech")),
                Verdict {
                    code: None,
                    name: None,
                    source: Source::Unrecognised,
                    q850: Some(5),
                    sip_status: Some(480),
                },
            ),
            (
                carrier(404, None),
                Heard::default(),
                Verdict {
                    code: Some(1001),
                    name: Some("主叫号码不可用"),
                    source: Source::SipStatus,
                    q850: None,
                    sip_status: Some(404),
                },
            ),
            (
                Ending::CallerCancel,
                Heard::default(),
                Verdict {
                    code: Some(1487),
                    name: Some("呼叫取消"),
                    source: Source::SipStatus,
                    q850: None,
                    sip_status: None,
                },
            ),
        ];
        for (ending, heard, want) in rows {
            assert_eq!(decide(&ending, &heard), want, "{ending:?} {heard:?}");
        }
    }

    #[test]
    fn reason_header_parsing() {
        let rows: [(&str, Option<u16>); 30] = [
            ("Q.850;cause=17", Some(17)),
            ("Q.850;cause=17;text=\"User busy\"", Some(17)),
            ("Q.850;text=\"User busy\";cause=17", Some(17)),
            ("SIP;cause=480, Q.850;cause=18", Some(18)),
            (
                "SIP;cause=480;text=\"Temporarily Unavailable\", Q.850;cause=18",
                Some(18),
            ),
            ("Q.850;cause=18, SIP;cause=480", Some(18)),
            ("q.850;CAUSE=21", Some(21)),
            ("Q.850 ; cause = 16 ; text = \"Normal\"", Some(16)),
            ("  Q.850;cause=1  ", Some(1)),
            ("Q.850;cause=034", Some(34)),
            ("Q.850;cause=127", Some(127)),
            // A comma or semicolon inside the quoted text is text.
            ("Q.850;text=\"busy, cause=99; really\";cause=17", Some(17)),
            ("SIP;text=\"a, Q.850;cause=1\", Q.850;cause=3", Some(3)),
            ("Q.850;text=\"say \\\"cause=9\\\"\";cause=17", Some(17)),
            // The first Q.850 value with a valid cause wins.
            ("Q.850;cause=abc, Q.850;cause=19", Some(19)),
            ("Q.850;cause=17, Q.850;cause=18", Some(17)),
            // Folded header (several Reason headers joined).
            ("SIP;cause=487,\r\n Q.850;cause=16", Some(16)),
            ("SIP;cause=480", None),
            ("Q.850", None),
            ("Q.850;cause=", None),
            ("Q.850;cause=0", None),
            ("Q.850;cause=128", None),
            ("Q.850;cause=99999999", None),
            ("Q.850;cause=+17", None),
            ("Q.850;cause=-1", None),
            ("Q.850;cause=1 7", None),
            ("Q.850;cause=\"17\"", None),
            ("Q.8500;cause=17", None),
            ("Q.850cause=17", None),
            ("", None),
        ];
        for (reason, want) in rows {
            assert_eq!(q850_cause(reason), want, "{reason:?}");
        }
        for junk in [
            "garbage",
            ";;;",
            "=,=,=",
            "\"Q.850;cause=17\"",
            "Q.850;\"cause=17",
        ] {
            assert_eq!(q850_cause(junk), None, "{junk:?}");
        }
    }

    #[test]
    fn names_match_the_spec() {
        // Every row of hangup-codes.md, byte for byte.
        let rows: [(u16, &str); 43] = [
            (2101, "用户占线"),
            (2102, "无人接听"),
            (2103, "网络忙"),
            (2104, "线路故障"),
            (2105, "不在服务区"),
            (2106, "暂停服务"),
            (2107, "停机"),
            (2108, "暂时无法接通"),
            (2109, "关机"),
            (2110, "停机保号"),
            (2111, "呼叫受限"),
            (2112, "呼叫等待"),
            (2113, "呼叫转移"),
            (2114, "空号"),
            (2115, "号码不正确"),
            (2116, "号码无效"),
            (2117, "外地号码需加零"),
            (2118, "本地不需加零"),
            (0, "正常结束"),
            (1001, "主叫号码不可用"),
            (1003, "找不到被叫"),
            (1016, "被叫未应答"),
            (1017, "用户忙"),
            (1018, "被叫无响应"),
            (1019, "久叫不应"),
            (1021, "拒绝应答"),
            (1022, "号码改变"),
            (1025, "路由错误"),
            (1028, "无效的号码格式"),
            (1029, "拒接"),
            (1038, "网络不可达"),
            (1041, "临时故障"),
            (1063, "服务不可用"),
            (1079, "未实现所请求的服务"),
            (1088, "不兼容的目的地"),
            (1102, "呼叫超时"),
            (1127, "已完成互通呼叫"),
            (1487, "呼叫取消"),
            (1000, "呼叫失败"),
            (1900, "资源不足"),
            (1901, "系统配置错误"),
            (4003, "黑名单用户"),
            (8888, "其他"),
        ];
        for (code, want) in rows {
            assert_eq!(name(code), Some(want), "{code}");
        }
        for code in [1, 999, 1005, 1606, 2100, 2120, 9999, u16::MAX] {
            assert_eq!(name(code), None, "{code}");
        }
    }

    #[test]
    fn tables_are_consistent() {
        // Sorted, one row per key.
        assert!(NAMES.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(Q850_CAUSES.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(SIP_STATUS_CODES.windows(2).all(|w| w[0].0 < w[1].0));
        // The classifier's codes have the same names.
        for (code, gname, _) in tonegate_classify::HEARD_CODES {
            assert_eq!(name(code), Some(gname), "{code}");
        }
        // Everything the decision can emit has a name.
        for (cause, _) in Q850_CAUSES {
            assert!((1..=127).contains(&cause));
            assert!(name(1000 + cause).is_some(), "Q.850 {cause}");
        }
        for (status, code) in SIP_STATUS_CODES {
            assert!(name(code).is_some(), "{status}");
        }
        for code in GENERIC_CODES.into_iter().chain([
            UNLISTED_FAILURE,
            TRANSPORT_FAILURE,
            CALLER_CANCEL,
            TRANSACTION_TIMEOUT,
            LIMIT,
            NO_ROUTE,
            BLACKLISTED,
            OTHER,
        ]) {
            assert!(name(code).is_some(), "{code}");
        }
    }
}
