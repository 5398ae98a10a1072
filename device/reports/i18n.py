"""Report labels in English and Simplified Chinese."""

from __future__ import annotations

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "title.echo": "Echocardiography report", "title.ecg": "Electrocardiogram report",
        "title.perfusion": "Myocardial perfusion report",
        "patient": "Patient", "patient_id": "Patient ID", "sex": "Sex", "birth_date": "Date of birth",
        "accession": "Accession", "exam_date": "Exam date", "institution": "Institution",
        "measurement": "Measurement", "value": "Value", "unit": "Unit", "reference": "Reference",
        "interpretation": "Interpretation", "model": "Model", "key_images": "Key images",
        "comments": "Comments", "signed_by": "Signed by", "signed_at": "at", "unsigned": "DRAFT - not signed",
        "version": "Version", "amends": "Corrects version", "reason": "Reason", "models_used": "Models used",
        "confirmed": "reviewed", "unconfirmed": "not reviewed", "page": "Page",
        "sex.M": "male", "sex.F": "female", "sex.O": "other", "sex.": "unknown",
    },
    "zh-CN": {
        "title.echo": "超声心动图报告", "title.ecg": "心电图报告", "title.perfusion": "心肌灌注显像报告",
        "patient": "患者", "patient_id": "患者编号", "sex": "性别", "birth_date": "出生日期",
        "accession": "检查号", "exam_date": "检查日期", "institution": "机构",
        "measurement": "测量项目", "value": "数值", "unit": "单位", "reference": "参考范围",
        "interpretation": "解读", "model": "模型", "key_images": "关键图像",
        "comments": "意见", "signed_by": "签署医生", "signed_at": "时间", "unsigned": "草稿 - 未签署",
        "version": "版本", "amends": "更正版本", "reason": "原因", "models_used": "所用模型",
        "confirmed": "已审核", "unconfirmed": "未审核", "page": "第",
        "sex.M": "男", "sex.F": "女", "sex.O": "其他", "sex.": "未知",
    },
}


def labels(language: str) -> dict[str, str]:
    """The label table of ``language`` (``en`` or ``zh-CN``)."""
    return LABELS.get(language, LABELS["en"])
