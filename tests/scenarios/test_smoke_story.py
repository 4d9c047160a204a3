"""The stage itself: a hazard registered on Monday, seven working days pass through the sweep."""
from tests.scenarios.conftest import squash


def test_a_registered_hazard_gets_its_notice_rendered_and_the_unit_notified(story):
    case = story.drv.create("hazard", title="3号楼临边防护缺失", description="3号楼5层临边未设置防护栏杆",
                            location="3号楼5层")
    case = story.act(case, "register", fields={"enterprise_id": story.world.e1.id, "severity": "general",
                                               "requirements": "立即设置临边防护栏杆"})
    story.advance(hours=2)
    [notice] = story.document_rows(case, "rectification_notice")
    text = story.text_of(notice)
    assert notice.number in squash(text) or squash(notice.number) in text
    assert "contact" in story.notified(case)
