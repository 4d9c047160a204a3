"""Realistic sample variables for every template in notifications/rendering/catalog.py.

All instants are aware UTC datetimes (as stored); legal dates are Asia/Shanghai dates. The names
and numbers are made up but shaped like real ones (Suzhou, Gusu district, 2026); the credit codes
carry valid GB 32100 check characters.
"""
from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, tzinfo=timezone.utc)


# --- shared facts of the running example ------------------------------------------------------

AUTHORITY = "苏州市姑苏区住房和城乡建设局"
CITY_AUTHORITY = "苏州市住房和城乡建设局"
CASE_NUMBER = "320508-YH-2026-000123"
CASE_URL = "https://anjian.example.gov.cn/cases/320508-YH-2026-000123"
PROJECT = "平江新城安置房二期工程（3#—6#楼及地下车库）"
CONTRACTOR = "苏州金阊建设集团有限公司"
CONTRACTOR_CODE = "91320508MA1MXXK27J"
BUILDER = "苏州市姑苏区城市更新投资发展有限公司"
BUILDER_CODE = "91320508MA20A1B3XW"
SUPERVISION_UNIT = "江苏中衡工程咨询监理有限公司"
SUPERVISION_UNIT_CODE = "91320500134796522U"

# Deadline: 2026-11-22 end of day in Shanghai (= 15:59:59 UTC).
DEADLINE_AT = utc(2026, 11, 22, 15, 59, 59)
DUE_DATE = date(2026, 11, 22)

CASE = {
    "case_number": CASE_NUMBER,
    "case_title": "3#楼北侧基坑临边防护缺失、坑边超载堆放",
    "case_url": CASE_URL,
}

DOC = {
    "issuing_authority": AUTHORITY,
    "issued_at": utc(2026, 11, 12, 7, 30),  # 2026-11-12 15:30 Shanghai
    "recipient": CONTRACTOR,
    "contact_name": "张伟",
    "contact_phone": "0512-65223310",
    "cc": [BUILDER, SUPERVISION_UNIT, "苏州市姑苏区建设工程质量安全监督站"],
}

UNITS = {
    "contractor_name": CONTRACTOR,
    "contractor_credit_code": CONTRACTOR_CODE,
    "builder_name": BUILDER,
    "builder_credit_code": BUILDER_CODE,
    "supervision_unit_name": SUPERVISION_UNIT,
    "supervision_unit_credit_code": SUPERVISION_UNIT_CODE,
    "responsible_unit_name": CONTRACTOR,
    "responsible_unit_credit_code": CONTRACTOR_CODE,
}

DEADLINE = {"deadline_at": DEADLINE_AT, "due_date": DUE_DATE, "deadline_provisional": False}

HAZARD = (
    "1. 3#楼北侧基坑（开挖深度6.2米）东段临边防护栏杆缺失约18米，未设置挡脚板及警示标志；\n"
    "2. 基坑北侧坑边1米范围内堆放钢筋约12吨，超过专项施工方案规定的地面荷载限值；\n"
    "3. 基坑监测单位近3日未提交监测数据，项目部未组织巡视检查。"
)

LEGAL_BASIS = (
    "《中华人民共和国安全生产法》第四十一条、《建设工程安全生产管理条例》第二十八条"
    "和第四十三条、《危险性较大的分部分项工程安全管理规定》（住房和城乡建设部令第37号）第十七条"
)

SAMPLES: dict[str, dict] = {
    "reminder": {
        **CASE,
        "project_name": PROJECT,
        "recipient_name": "苏州金阊建设集团有限公司 项目经理 王建国",
        "task": "完成基坑临边防护及坑边堆载隐患整改，并报送《隐患整改回复单》",
        **DEADLINE,
        "days_left": 2,
        "light": "yellow",
        "issuing_authority": AUTHORITY,
        "contact_name": "张伟",
        "contact_phone": "0512-65223310",
    },
    "overdue_warning": {
        **CASE,
        "project_name": PROJECT,
        "recipient_name": "苏州金阊建设集团有限公司 项目经理 王建国",
        "task": "完成基坑临边防护及坑边堆载隐患整改，并报送《隐患整改回复单》",
        "deadline_at": DEADLINE_AT,
        "due_date": DUE_DATE,
        "overdue_days": 3,
        "next_measure": "发出警示函并约谈企业负责人",
        "issuing_authority": AUTHORITY,
        "contact_name": "张伟",
        "contact_phone": "0512-65223310",
    },
    "rectification_notice": {
        **CASE, **DOC, **UNITS, **DEADLINE,
        "doc_number": "姑苏建质改〔2026〕37号",
        "project_name": PROJECT,
        "location": "3#楼北侧基坑东段",
        "inspected_at": utc(2026, 11, 12, 2, 30),
        "hazard_description": HAZARD,
        "legal_basis": LEGAL_BASIS,
        "requirements": [
            "立即在基坑东段恢复设置高度不低于1.2米的防护栏杆及挡脚板，悬挂安全警示标志；",
            "立即清运坑边超载堆放的钢筋，坑边1米范围内严禁堆载，堆载区域按专项方案设置；",
            "督促基坑监测单位恢复监测并补报监测数据，监测数据异常时立即停止作业、撤离人员；",
            "项目负责人组织对全部危大工程开展一次自查，举一反三消除同类隐患。",
        ],
    },
    "stop_work_order": {
        **CASE, **DOC, **UNITS, **DEADLINE,
        "case_number": "320508-ZD-2026-000017",
        "case_title": "5#楼高支模架体未按专项方案搭设",
        "case_url": "https://anjian.example.gov.cn/cases/320508-ZD-2026-000017",
        "doc_number": "姑苏建质停〔2026〕9号",
        "issued_at": utc(2026, 11, 18, 3, 0),
        "project_name": PROJECT,
        "location": "5#楼地下车库顶板高支模区域（搭设高度8.6米）",
        "inspected_at": utc(2026, 11, 18, 1, 40),
        "hazard_description": (
            "高支模架体立杆间距1.2米，大于专项施工方案规定的0.9米；"
            "扫地杆、水平杆及竖向剪刀撑大面积缺失；专项施工方案未经专家论证即组织实施。"
        ),
        "hazard_catalog_item": (
            "《房屋市政工程生产安全重大事故隐患判定标准（2022版）》第七条第（一）项："
            "模板工程的地基基础承载力和变形不满足设计要求"
        ),
        "partial_stop": True,
        "stop_scope": "5#楼地下车库顶板高支模区域及其下方全部施工作业",
        "stop_from": utc(2026, 11, 18, 3, 0),
        "legal_basis": (
            "《中华人民共和国安全生产法》第六十五条、《建设工程安全生产管理条例》第五十一条、"
            "《房屋市政工程生产安全重大事故隐患判定标准（2022版）》"
        ),
        "requirements": [
            "立即停止停工范围内的施工作业，撤出作业人员，设置警戒区域并安排专人值守；",
            "按程序组织高支模专项施工方案专家论证，严格按论证后的方案对架体进行整改；",
            "整改完成后由施工单位自查、监理单位复查合格，建设单位组织验收；",
            "整改完毕后提交《停工整改报告暨复工申请表》，经我局复查同意后方可恢复施工。",
        ],
        "due_date": date(2026, 11, 28),
        "deadline_at": utc(2026, 11, 28, 15, 59, 59),
    },
    "supervision_notice": {
        **CASE, **DOC, **DEADLINE,
        "case_number": "320508-ZD-2026-000017",
        "case_title": "5#楼高支模架体未按专项方案搭设",
        "case_url": "https://anjian.example.gov.cn/cases/320508-ZD-2026-000017",
        "issuing_authority": CITY_AUTHORITY,
        "doc_number": "苏建质督〔2026〕12号",
        "issued_at": utc(2026, 11, 19, 8, 0),
        "recipient": "苏州市姑苏区住房和城乡建设局",
        "contact_name": "刘芳",
        "contact_phone": "0512-68616322",
        "cc": ["苏州市安全生产委员会办公室"],
        "project_name": PROJECT,
        "location": "5#楼地下车库顶板高支模区域",
        "contractor_name": CONTRACTOR,
        "responsible_unit_name": CONTRACTOR,
        "responsible_unit_credit_code": CONTRACTOR_CODE,
        "builder_name": BUILDER,
        "hazard_description": "高支模架体立杆间距、水平杆及剪刀撑设置不符合专项施工方案，方案未经专家论证。",
        "hazard_catalog_item": "《房屋市政工程生产安全重大事故隐患判定标准（2022版）》第七条第（一）项",
        "supervised_unit": "苏州市姑苏区住房和城乡建设局",
        "public_posting": True,
        "legal_basis": "《中华人民共和国安全生产法》第六十五条、《江苏省房屋市政工程重大事故隐患挂牌督办办法》",
        "requirements": [
            "施工单位按“五落实”要求（措施、资金、期限、责任人、应急预案）制定重大事故隐患整改方案；",
            "姑苏区住房和城乡建设局跟踪督促整改，每周报送整改进展；",
            "整改完成后，由姑苏区住房和城乡建设局组织核查，并向我局提出摘牌申请。",
        ],
        "due_date": date(2026, 12, 18),
        "deadline_at": utc(2026, 12, 18, 15, 59, 59),
    },
    "supervision_letter": {
        **CASE, **DOC, **DEADLINE,
        "issuing_authority": CITY_AUTHORITY,
        "doc_number": "苏建质督函〔2026〕5号",
        "issued_at": utc(2026, 11, 30, 2, 0),
        "recipient": "苏州市姑苏区住房和城乡建设局",
        "contact_name": "刘芳",
        "contact_phone": "0512-68616322",
        "cc": [],
        "project_name": PROJECT,
        "issue_summary": (
            "你局于2026年11月12日对平江新城安置房二期工程下达的隐患整改通知书"
            "（姑苏建质改〔2026〕37号）整改期限已届满，经系统核查该隐患至今未完成整改销号。"
        ),
        "original_due_date": DUE_DATE,
        "overdue_days": 8,
        "legal_basis": "《中华人民共和国安全生产法》第六十五条",
        "requirements": [
            "督促施工单位立即完成整改，整改期间落实安全防范措施；",
            "查明逾期原因，依法依规对相关责任单位和人员予以处理；",
            "将督办事项办理情况书面报送我局。",
        ],
        "due_date": date(2026, 12, 7),
        "deadline_at": utc(2026, 12, 7, 15, 59, 59),
        "next_measure": "对你局分管负责人进行约谈并予以通报",
    },
    "interview_notice": {
        **CASE, **DOC,
        "doc_number": "姑苏建约〔2026〕4号",
        "issued_at": utc(2026, 11, 24, 2, 0),
        "project_name": PROJECT,
        "interview_reason": (
            "你单位承建的平江新城安置房二期工程隐患整改逾期未完成，"
            "且2026年以来该项目累计被下达隐患整改通知书3次"
        ),
        "interview_at": utc(2026, 11, 27, 1, 30),  # 09:30 Shanghai
        "interview_place": "苏州市姑苏区住房和城乡建设局（干将西路1208号）三楼会议室",
        "attendees_required": "你单位法定代表人（或主要负责人）、分管安全生产负责人、项目负责人及项目专职安全员",
        "materials": [
            "隐患整改情况书面报告（加盖单位公章）",
            "企业安全生产管理制度及项目安全生产责任制落实情况材料",
            "参加约谈人员身份证明及授权委托书",
        ],
        "legal_basis": "《中华人民共和国安全生产法》及《江苏省建筑施工安全生产约谈制度》",
    },
    "interview_record": {
        **CASE, **DOC,
        "doc_number": "姑苏建约记〔2026〕2号",
        "issued_at": utc(2026, 11, 27, 3, 0),
        "project_name": PROJECT,
        "recipient": "苏州二建建筑集团有限公司",
        "interview_notice_number": "姑苏建约〔2026〕4号",
        "interview_reason": "你单位承建的平江新城安置房二期工程隐患整改逾期未完成",
        "interview_held_at": utc(2026, 11, 27, 1, 30),  # 09:30 Shanghai
        "interview_place": "苏州市姑苏区住房和城乡建设局三楼会议室",
        "interview_hosts": "张伟、陈国强",
        "interview_minutes": "约谈人通报了该项目隐患整改逾期情况。\n被约谈单位法定代表人表示：已成立整改专班，承诺限期完成整改。",
        "attendees": [
            {"name": "周建明", "unit": "苏州二建建筑集团有限公司", "position": "法定代表人"},
            {"name": "王磊", "unit": "苏州二建建筑集团有限公司", "position": "项目负责人"},
        ],
        "commitments": [
            {"content": "完成3#楼吊篮安全锁更换并经检测合格", "unit": "苏州二建建筑集团有限公司",
             "responsible_person": "王磊", "due_date": date(2026, 12, 4)},
            {"content": "对全部在建项目吊篮开展专项检查并报送检查报告", "unit": "苏州二建建筑集团有限公司",
             "responsible_person": "周建明", "due_date": date(2026, 12, 11)},
        ],
    },
    "reinspection_opinion": {
        **CASE, **DOC,
        "doc_number": "姑苏建质复〔2026〕52号",
        "issued_at": utc(2026, 11, 23, 8, 0),
        "project_name": PROJECT,
        "location": "3#楼北侧基坑东段",
        "contractor_name": CONTRACTOR,
        "hazard_description": HAZARD,
        "original_doc_number": "姑苏建质改〔2026〕37号",
        "original_doc_title": "隐患整改通知书",
        "reinspected_at": utc(2026, 11, 23, 6, 0),
        "inspectors": "张伟、李明",
        "findings": (
            "基坑东段临边防护栏杆已恢复设置，坑边堆载已清运；"
            "但监测单位补报的监测数据缺少11月15日至17日的沉降观测记录。"
        ),
        "reinspection_passed": False,
        "rectification_round": 1,
        "requirements": [
            "督促监测单位补齐缺失的监测数据并对数据变化进行分析说明；",
            "建立基坑监测数据日报制度，日报经项目负责人签字后存档。",
        ],
        "deadline_at": utc(2026, 11, 27, 15, 59, 59),
        "due_date": date(2026, 11, 27),
        "deadline_provisional": False,
    },
    "closure_confirmation": {
        **CASE, **DOC,
        "doc_number": "姑苏建质销〔2026〕41号",
        "issued_at": utc(2026, 11, 30, 8, 0),
        "project_name": PROJECT,
        "location": "3#楼北侧基坑东段",
        "contractor_name": CONTRACTOR,
        "hazard_description": HAZARD,
        "original_doc_number": "姑苏建质改〔2026〕37号",
        "original_doc_title": "隐患整改通知书",
        "rectification_summary": (
            "已恢复设置临边防护栏杆及挡脚板18米，清运坑边堆载钢筋12吨，"
            "补齐基坑监测数据并建立监测日报制度；监理单位已复查确认。"
        ),
        "verified_at": utc(2026, 11, 28, 2, 0),
        "closed_at": utc(2026, 11, 30, 8, 0),
        "listing_authority": None,
        "lookback_due_date": date(2027, 2, 28),
    },
    "accident_flash_report": {
        **CASE, **DOC, **UNITS,
        "case_number": "320508-SG-2026-000004",
        "case_title": "平江新城安置房二期工程“11·20”高处坠落事故",
        "case_url": "https://anjian.example.gov.cn/cases/320508-SG-2026-000004",
        "doc_number": "姑苏建事快〔2026〕4号",
        "recipient": CITY_AUTHORITY,
        "issued_at": utc(2026, 11, 20, 7, 10),
        "contact_name": "陈静",
        "contact_phone": "0512-65223306",
        "cc": ["苏州市姑苏区应急管理局"],
        "project_name": PROJECT,
        "location": "4#楼主体结构第17层东侧外脚手架",
        "occurred_at": utc(2026, 11, 20, 6, 15),  # 14:15 Shanghai
        "accident_type": "高处坠落",
        "accident_grade": "general",
        "deaths": 1,
        "serious_injuries": 0,
        "missing_persons": 0,
        "direct_loss_yuan": Decimal("1350000"),
        "sequence": (
            "2026年11月20日14时15分许，架子工刘某（男，46岁）在4#楼第17层东侧拆除外脚手架连墙件时，"
            "未系挂安全带，从作业层坠落至地面，经现场急救后送苏州市立医院，抢救无效死亡。"
        ),
        "cause_preliminary": "作业人员未按规定系挂安全带，拆除作业未设置警戒区域及专人监护（初步判断，待调查认定）。",
        "measures_taken": (
            "项目已全面停工，现场已保护并设置警戒；区住建局、应急管理局负责人已赶赴现场；"
            "已责令施工单位开展全面安全隐患排查。"
        ),
        "reported_at": utc(2026, 11, 20, 7, 10),
    },
    "occurrence_flash_report": {
        **CASE, **DOC, **UNITS,
        "case_number": "320508-XQ-2026-000002",
        "case_title": "平江新城安置房二期工程5#楼外脚手架局部外倾险情",
        "case_url": "https://anjian.example.gov.cn/cases/320508-XQ-2026-000002",
        "doc_number": "姑苏建质险〔2026〕2号",
        "recipient": CITY_AUTHORITY,
        "issued_at": utc(2026, 11, 23, 6, 30),
        "contact_name": "陈静",
        "contact_phone": "0512-65223306",
        "cc": [],
        "project_name": PROJECT,
        "location": "5#楼北侧外脚手架第8至11步",
        "occurred_at": utc(2026, 11, 23, 1, 40),  # 09:40 Shanghai
        "occurrence_type": "脚手架险情",
        "endangered": 23,
        "evacuated": 23,
        "minor_injuries": 0,
        "direct_loss_yuan": Decimal("60000"),
        "sequence": (
            "2026年11月23日9时40分许，5#楼北侧外脚手架第8至11步局部外倾约20厘米，现场管理人员发现后"
            "立即停止作业，组织架上及下方23名作业人员撤离，未造成人员伤亡。"
        ),
        "measures_taken": "已设置警戒区，停止外架及下方交叉作业；已组织专家现场会商，制定卸荷加固方案。",
        "reported_at": utc(2026, 11, 23, 6, 30),
    },
    "dangerous_building_notice": {
        **CASE, **DOC, **DEADLINE,
        "case_number": "320508-WF-2026-000031",
        "case_title": "平江路西侧某弄12号3幢砖木结构住宅承重墙开裂",
        "case_url": "https://anjian.example.gov.cn/cases/320508-WF-2026-000031",
        "doc_number": "姑苏建危〔2026〕18号",
        "recipient": "顾某某（房屋所有人）",
        "cc": ["苏州市姑苏区平江街道办事处"],
        "building_name": "平江路西侧某弄12号3幢",
        "building_address": "苏州市姑苏区平江路西侧某弄12号",
        "property_owner": "顾某某",
        "appraisal_grade": "D",
        "appraisal_org": "苏州市房屋安全鉴定管理处",
        "appraisal_report_number": "苏房鉴〔2026〕字第0873号",
        "appraised_at": date(2026, 11, 10),
        "handling_option": "stop_use",
        "hazard_description": "北侧承重墙斜向贯通裂缝最大宽度12毫米，二层木楼盖主梁端部腐朽，屋面檩条多处断裂。",
        "measures": [
            "立即停止使用该房屋，组织全部居住及使用人员撤离，并妥善安置；",
            "在房屋周边设置警戒线和危险房屋警示标志，禁止人员进入；",
            "委托具有资质的单位编制解危方案，按“一房一策”实施整体拆除或加固处理。",
        ],
        "legal_basis": "《城市危险房屋管理规定》第九条、第十条和《危险房屋鉴定标准》（JGJ 125-2016）",
        "deadline_at": utc(2026, 11, 26, 15, 59, 59),
        "due_date": date(2026, 11, 26),
        "deadline_provisional": True,
    },
    "warning_letter": {
        **CASE, **DOC, **DEADLINE,
        "doc_number": "姑苏建警〔2026〕6号",
        "issued_at": utc(2026, 11, 25, 2, 0),
        "project_name": PROJECT,
        "responsible_unit_name": CONTRACTOR,
        "responsible_unit_credit_code": CONTRACTOR_CODE,
        "issue_summary": (
            "我局于2026年11月12日向你单位下达《隐患整改通知书》（姑苏建质改〔2026〕37号），"
            "要求于2026年11月22日前完成整改。截至目前，你单位仍未完成整改，也未报送整改回复单。"
        ),
        "legal_basis": "《中华人民共和国安全生产法》第四十一条、第一百零二条",
        "requirements": [
            "立即完成隐患整改，整改期间采取有效的安全防范措施；",
            "对逾期未整改的原因进行书面说明，并对相关责任人员作出处理。",
        ],
        "deadline_at": utc(2026, 11, 28, 15, 59, 59),
        "due_date": date(2026, 11, 28),
        "next_measure": "约谈",
    },
    "referral_letter": {
        **CASE, **DOC,
        "doc_number": "姑苏建质移〔2026〕2号",
        "issued_at": utc(2026, 11, 24, 2, 0),
        "recipient": "苏州市公安局姑苏分局",
        "cc": [],
        "project_name": PROJECT,
        "location": "3#楼北侧基坑",
        "responsible_unit_name": CONTRACTOR,
        "responsible_unit_credit_code": CONTRACTOR_CODE,
        "referral_target": "公安机关",
        "referral_subject": "涉嫌危险作业罪案件线索",
        "facts": (
            "2026年11月12日我局对该项目3#楼北侧基坑下达责令停工通知书（姑苏建质停〔2026〕9号）后，"
            "11月20日复查发现基坑内仍有12名工人继续作业，坑边超载堆放未清除，基坑监测数据显示位移持续增大。"
        ),
        "legal_basis": "《中华人民共和国刑法》第一百三十四条之一、《行政执法机关移送涉嫌犯罪案件的规定》（国务院令第310号）第三条",
        "referral_request": "请依法审查是否立案，并将审查决定书面函告我局。",
        "referral_attachments": ["责令停工通知书（复印件）", "现场检查记录及照片"],
        "referral_reply_due_date": date(2026, 11, 27),
    },
    "public_criticism": {
        **CASE, **DOC, **DEADLINE,
        "doc_number": "姑苏建通〔2026〕3号",
        "issued_at": utc(2026, 12, 2, 2, 0),
        "recipient": "各街道办事处，各建设、施工、监理单位",
        "project_name": PROJECT,
        "criticized_unit": CONTRACTOR,
        "criticized_unit_credit_code": CONTRACTOR_CODE,
        "facts": (
            "该单位承建的平江新城安置房二期工程存在基坑临边防护缺失、坑边超载堆放等安全隐患，"
            "经我局下达整改通知书、警示函后仍逾期未整改，安全生产主体责任落实不到位。"
        ),
        "legal_basis": "《中华人民共和国安全生产法》和《江苏省建筑市场信用管理办法》",
        "requirements": [
            "被通报单位要深刻吸取教训，立即完成隐患整改，并将整改情况书面报送我局；",
            "各施工单位要举一反三，立即开展危大工程安全隐患自查自纠。",
        ],
        "credit_deduction": "记入建筑市场主体不良行为记录一次，扣减信用分10分",
        "deadline_at": utc(2026, 12, 10, 15, 59, 59),
        "due_date": date(2026, 12, 10),
    },
    "escalation_transfer": {
        **CASE,
        "project_name": PROJECT,
        "recipient_name": "苏州市住房和城乡建设局 质量安全监管处",
        "from_authority": AUTHORITY,
        "to_authority": CITY_AUTHORITY,
        "rung_name": "提级督办",
        "reason": "隐患整改逾期30日，经警示函、约谈、通报批评后仍未完成整改",
        "escalated_at": utc(2026, 12, 22, 1, 0),
        "contact_name": "张伟",
        "contact_phone": "0512-65223310",
    },
    "self_check_handover": {
        **CASE, **DEADLINE,
        "project_name": PROJECT,
        "recipient_name": "张伟",
        "original_case_number": "320508-ZC-2026-000003",
        "responsible_unit_name": CONTRACTOR,
        "original_due_date": date(2026, 11, 20),
        "handed_over_at": utc(2026, 11, 20, 16, 0),
        "issuing_authority": AUTHORITY,
    },
    "complaint_received": {
        **CASE,
        "recipient_name": "张伟",
        "complaint_channel": "12345热线转办",
        "referral_no": "SZ12345-20261123-0007",
        "complaint_content": "平江路某工地夜间塔吊作业，吊物从人行道上方经过，没有人看管。",
        "location": "平江路与白塔东路交叉口东北侧",
        "reply_due_date": date(2026, 12, 14),
    },
    "daily_digest": {
        "recipient_name": "赵强",
        "jurisdiction_name": "姑苏区",
        "digest_date": date(2026, 11, 25),
        "total_open": 46,
        "dashboard_url": "https://anjian.example.gov.cn/dashboard?jurisdiction=320508",
        "cases": [
            {"case_number": CASE_NUMBER, "case_title": "3#楼北侧基坑临边防护缺失、坑边超载堆放",
             "kind": "hazard", "light": "red", "due_date": DUE_DATE, "days_left": -3,
             "assignee_name": "张伟", "case_url": CASE_URL},
            {"case_number": "320508-ZD-2026-000017", "case_title": "5#楼高支模架体未按专项方案搭设",
             "kind": "major_hazard", "light": "red", "due_date": date(2026, 11, 24), "days_left": -1,
             "assignee_name": "李明",
             "case_url": "https://anjian.example.gov.cn/cases/320508-ZD-2026-000017"},
            {"case_number": "320508-WF-2026-000031", "case_title": "平江路西侧某弄12号3幢承重墙开裂",
             "kind": "dangerous_building", "light": "yellow", "due_date": date(2026, 11, 26),
             "days_left": 1, "assignee_name": "王芳",
             "case_url": "https://anjian.example.gov.cn/cases/320508-WF-2026-000031"},
            {"case_number": "320508-YH-2026-000131", "case_title": "塔吊标准节螺栓松动",
             "kind": "hazard", "light": "yellow", "due_date": date(2026, 11, 25), "days_left": 0,
             "assignee_name": "李明",
             "case_url": "https://anjian.example.gov.cn/cases/320508-YH-2026-000131"},
        ],
    },
    "campaign_round_reminder": {
        "recipient_name": "周敏（苏州市吴中区住房和城乡建设局）",
        "campaign_name": "2轮全覆盖精准排查",
        "round_name": "第一轮",
        "due_date": date(2026, 6, 30),
        "district_name": "苏州市吴中区住房和城乡建设局",
        "issuing_authority": CITY_AUTHORITY,
        "coverage_in_scope": 12, "coverage_inspected": 7, "coverage_pending": 5, "coverage_percent": "58.3%",
        "coverage_target": 100,
        "reminder_text": "苏州市吴中区住房和城乡建设局：《2轮全覆盖精准排查》第一轮将于2026年6月30日到期。截至目前，你辖区范围内"
                         "在建项目12个，已检查7个，尚有5个未检查（覆盖率58.3%，目标100%），请抓紧组织检查，确保按期完成。",
        "dashboard_url": "https://anjian.example.gov.cn/campaigns/3",
    },
    "campaign_supervision_letter": {
        "recipient_name": "周敏（苏州市吴中区住房和城乡建设局）",
        "campaign_name": "2轮全覆盖精准排查",
        "round_name": "第一轮",
        "due_date": date(2026, 6, 30),
        "district_name": "苏州市吴中区住房和城乡建设局",
        "issuing_authority": CITY_AUTHORITY,
        "doc_number": "苏州建质督函〔2026〕3号",
        "issued_at": utc(2026, 6, 30, 16, 0),
        "coverage_in_scope": 12, "coverage_inspected": 7, "coverage_pending": 5, "coverage_percent": "58.3%",
        "coverage_target": 100,
        "letter_text": "督办函\n苏州建质督函〔2026〕3号\n苏州市吴中区住房和城乡建设局：\n根据苏州市住房和城乡建设局《2轮全覆盖精准排查》"
                       "工作安排，第一轮应于2026年6月30日前完成辖区内在建项目检查全覆盖（覆盖率目标100%）。截至2026年6月30日，"
                       "你辖区范围内在建项目12个，已检查7个，未检查5个，覆盖率58.3%，未完成工作要求。\n请于收到本函后立即组织对"
                       "未检查项目逐一开展检查，并于2026年7月8日前将整改落实情况书面报告组织单位。\n苏州市住房和城乡建设局\n2026年7月1日",
        "dashboard_url": "https://anjian.example.gov.cn/campaigns/3",
    },
    "repeat_offender_flag": {
        "recipient_name": "陈刚（苏州市姑苏区住房和城乡建设局）",
        "enterprise_name": "苏州市姑苏建设工程有限公司",
        "enterprise_credit_code": "91320508MA1XXXXX0Q",
        "pattern_label": "重大事故隐患屡查屡犯",
        "legal_basis": "《安全生产法》第一百一十三条：180日内3次或1年内4次因同一问题受到罚款处罚",
        "proposal": "提请依法从重处罚，并按规定报请有关部门责令停业整顿、吊销有关证照",
        "window_text": "180日内3次（达到180日内3次）",
        "flagged_cases": [
            {"case_number": "320508-ZD-2026-000003", "case_title": "连墙件整层缺失", "event_date": "2026年6月1日"},
            {"case_number": "320508-ZD-2026-000011", "case_title": "深基坑未按方案开挖", "event_date": "2026年8月3日"},
            {"case_number": "320508-ZD-2026-000019", "case_title": "高支模未验收即浇筑", "event_date": "2026年10月9日"},
        ],
        "issuing_authority": AUTHORITY,
        "dashboard_url": "https://anjian.example.gov.cn/cockpit/repeat-offenders#flag-7",
    },
    "credit_record": {
        "recipient_name": "钱工（苏州测试建设有限公司）",
        "enterprise_name": "苏州测试建设有限公司",
        "enterprise_credit_code": "91320508MA1XXXXX0Q",
        "record_item": "XY-03 未按期完成隐患整改",
        "record_points": 5,
        "listing_reason": "320508-YH-2026-000003（3#楼脚手架连墙件缺失）：整改期限已逾期，未完成整改",
        "listing_period": "2026年11月27日至2027年2月24日",
        "credit_score": 85,
        "issuing_authority": AUTHORITY,
        "dashboard_url": "https://anjian.example.gov.cn/enterprises/7/credit",
    },
    "credit_listing": {
        "recipient_name": "钱工（苏州测试建设有限公司）",
        "enterprise_name": "苏州测试建设有限公司",
        "enterprise_credit_code": "91320508MA1XXXXX0Q",
        "list_label": "黑名单",
        "listing_action": "列入",
        "credit_score": 65,
        "listing_reason": "信用分65分，达到黑名单标准（70分及以下）。在效不良行为记录：存在重大事故隐患被责令停工、挂牌督办；拒不执行停工指令",
        "listing_period": "2026年11月30日至2027年5月29日",
        "issuing_authority": AUTHORITY,
        "dashboard_url": "https://anjian.example.gov.cn/enterprises/7/credit",
    },
    "system_alert": {
        **CASE,
        "recipient_name": "孙磊（江苏省住房和城乡建设厅 系统管理员）",
        "alert_title": "消息模板渲染失败，消息未发送",
        "alert_detail": "模板渲染失败：template 'rectification_notice': variable 'legal_basis' is missing",
        "raised_at": utc(2026, 11, 23, 1, 5),
        "failed_message_id": 4711,
        "failed_template_title": "隐患整改通知书",
        "failed_channel": "电子邮件",
    },
}

# Key text each rendering must contain (besides the case number).
EXPECTED_TEXT: dict[str, list[str]] = {
    "reminder": ["催办", "2026年11月22日", "黄灯"],
    "overdue_warning": ["逾期", "3天", "2026年11月22日"],
    "rectification_notice": ["隐患整改通知书", "姑苏建质改〔2026〕37号", "2026年11月22日"],
    "stop_work_order": ["责令局部停工通知书", "姑苏建质停〔2026〕9号", "2026年11月28日"],
    "supervision_notice": ["挂牌督办通知书", "苏建质督〔2026〕12号", "2026年12月18日"],
    "supervision_letter": ["督办函", "苏建质督函〔2026〕5号", "2026年12月7日"],
    "interview_notice": ["约谈通知书", "姑苏建约〔2026〕4号", "2026年11月27日"],
    "interview_record": ["约谈记录", "姑苏建约记〔2026〕2号", "2026年12月4日", "吊篮安全锁"],
    "reinspection_opinion": ["复查意见书", "姑苏建质复〔2026〕52号", "2026年11月27日"],
    "closure_confirmation": ["销号", "姑苏建质销〔2026〕41号", "2026年11月30日"],
    "accident_flash_report": ["事故快报", "姑苏建事快〔2026〕4号", "高处坠落", "135万元"],
    "dangerous_building_notice": ["危险房屋通知书", "姑苏建危〔2026〕18号", "2026年11月26日"],
    "occurrence_flash_report": ["险情快报", "姑苏建质险〔2026〕2号", "脚手架险情", "6万元"],
    "warning_letter": ["警示函", "姑苏建警〔2026〕6号", "2026年11月28日"],
    "public_criticism": ["通报批评", "姑苏建通〔2026〕3号", "2026年12月10日"],
    "referral_letter": ["关于移送涉嫌危险作业罪案件线索的函", "姑苏建质移〔2026〕2号", "苏州市公安局姑苏分局", "2026年11月27日"],
    "escalation_transfer": ["提级督办", CITY_AUTHORITY],
    "self_check_handover": ["自查隐患逾期移交", "320508-ZC-2026-000003", "2026年11月20日", AUTHORITY],
    "complaint_received": ["群众举报待处理", "SZ12345-20261123-0007", "2026年12月14日", "塔吊"],
    "daily_digest": ["红灯", "黄灯", "2026年11月25日"],
    "system_alert": ["系统告警", "隐患整改通知书", "legal_basis"],
    "repeat_offender_flag": ["屡查屡犯提示", "320508-ZD-2026-000019", "第一百一十三条", "从重处罚"],
    "credit_record": ["不良行为记录告知", "XY-03", "扣5分", "2026年11月27日至2027年2月24日", "申诉"],
    "credit_listing": ["信用惩戒告知", "已列入黑名单", "65分", "2026年11月30日至2027年5月29日", "拒不执行停工指令"],
    "campaign_round_reminder": ["专项行动提醒", "2026年6月30日", "5个未检查"],
    "campaign_supervision_letter": ["督办函", "苏州建质督函〔2026〕3号", "2026年6月30日", "未检查5个"],
}


def case_number_of(template: str) -> str | None:
    """The case number a sample must show (None for the digest, which shows several)."""
    return SAMPLES[template].get("case_number")
