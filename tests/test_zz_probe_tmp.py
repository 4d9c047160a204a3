from tests.machine_paths import HttpDriver

def test_probe(api, world, clock, database):
    drv = HttpDriver(api, world, clock)
    o = drv.client(world.officer)
    big = 10**20
    out = []
    def rec(name, fn):
        try:
            r = fn()
            out.append((name, r.status_code, r.text[:120]))
        except Exception as e:
            out.append((name, "EXC", type(e).__name__))
    rec("create nul title", lambda: o.post("/api/cases", json={"kind": "hazard", "title": "a\u0000b"}))
    rec("create nul desc", lambda: o.post("/api/cases", json={"kind": "hazard", "title": "ab", "description": "x\u0000y"}))
    rec("create big project", lambda: o.post("/api/cases", json={"kind": "hazard", "title": "ab", "project_id": big}))
    rec("create big enterprise", lambda: o.post("/api/cases", json={"kind": "hazard", "title": "ab", "enterprise_id": big}))
    rec("create big assignee", lambda: o.post("/api/cases", json={"kind": "hazard", "title": "ab", "assignee_id": big}))
    rec("create related big", lambda: o.post("/api/cases", json={"kind": "hazard", "title": "ab", "related_enterprises": [{"enterprise_id": big, "role": "builder"}]}))
    rec("get big case", lambda: o.get(f"/api/cases/{big}"))
    rec("events big case", lambda: o.get(f"/api/cases/{big}/events"))
    rec("act big case", lambda: o.post(f"/api/cases/{big}/actions/register", json={"version": 1}))
    rec("list big enterprise", lambda: o.get("/api/cases", params={"enterprise_id": big}))
    rec("list big assignee", lambda: o.get("/api/cases", params={"assignee": str(big)}))
    rec("list big page", lambda: o.get("/api/cases", params={"page": big}))
    c = drv.create("hazard")
    rec("act big version", lambda: o.post(f"/api/cases/{c['id']}/actions/dismiss", json={"version": big, "reason": "x"}))
    rec("act nul comment", lambda: o.post(f"/api/cases/{c['id']}/actions/comment", json={"version": 1, "comment": "a\u0000"}))
    rec("act nul reason", lambda: o.post(f"/api/cases/{c['id']}/actions/dismiss", json={"version": 1, "reason": "a\u0000"}))
    rec("act big enterprise", lambda: o.post(f"/api/cases/{c['id']}/actions/register", json={"version": 1, "enterprise_id": big, "severity": "general", "requirements": "x"}))
    rec("act inf", lambda: o.post(f"/api/cases/{c['id']}/actions/register", content=b'{"version": 1, "enterprise_id": 1, "severity": "general", "requirements": "x", "rectification_days": Infinity}', headers={"content-type": "application/json"}))
    rec("ent nul", lambda: o.post("/api/enterprises", json={"credit_code": "91320508MA1PABCD1X", "name": "a\u0000", "jurisdiction_code": "320508"}))
    rec("get big enterprise", lambda: o.get(f"/api/enterprises/{big}"))
    rec("sm big version", lambda: o.get("/api/state-machines/hazard", params={"version": big}))
    for x in out: print(database.dialect, x)
