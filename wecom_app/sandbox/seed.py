"""The demo company `seed_demo_company(state)` fills a state with: a department
tree (90208), ~60 members (90196) with leaders, the awkward cases a real
directory has (not activated, disabled, departed, names that break the 实名 rule),
the app's admins (a tag, since self-built apps have no admin-list API — 100072),
three customer groups (92122) and one managed group (90244).
Deterministic: the same state every time. `make_sandbox` builds a state and seeds it.

`seed_archive(state, secret, public_key)`: the company bought the conversation archive
(会话内容存档, 91774): every active employee is in its scope, and two internal groups created
in the client carry traffic that shows each archive feature (issue 12 item 8) — an
out-of-scope member (R11), a classified project name (R12), work talk late at night (R4) and a
leader's instruction to everyone (R16); 行政部-日常沟通 has a member from 财务部 and the
list's other classified word, for the newcomer to see once they register it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from wecom_app.sandbox.emulator.archive import enable_archive
from wecom_app.sandbox.state import STATUS_DISABLED, STATUS_INACTIVE, STATUS_LEFT, SandboxState

COMPANY = "云杉科技有限公司"
DEPARTMENTS = [  # id, name, parentid
    (2, "总经理办公室", 1), (3, "行政部", 1), (4, "财务部", 1), (5, "销售部", 1),
    (6, "华东销售组", 5), (7, "华南销售组", 5), (8, "研发部", 1), (9, "人力资源部", 1),
]
# department id → "userid:name:position" members; the first one leads the department
STAFF = {
    2: "zhangwei:张伟:总经理 liuyang:刘洋:总经理助理",
    3: "wangfang:王芳:行政经理 lina:李娜:行政专员 chenjing:陈静:前台 zhaolei:赵磊:司机 "
       "sunli:孙丽:行政专员 xiaowang:小王🙂:行政助理",
    4: "liuqiang:刘强:财务总监 yangmin:杨敏:会计 huangyan:黄艳:出纳 zhoutao:周涛:会计",
    5: "wujun:吴军:销售总监 xuchao:徐超:销售运营",
    6: "hujie:胡杰:华东销售经理 zhuxia:朱霞:销售代表 gaoping:高平:销售代表 linfeng:林峰:销售代表 "
       "heyong:何勇:销售代表 guojuan:郭娟:销售代表 mali:马丽:销售代表 tony:Tony:销售代表 "
       "luohao:罗浩:销售代表 lina2:李娜:销售代表",
    7: "zhengming:郑明:华南销售经理 liangjing:梁静:销售代表 songgang:宋刚:销售代表 xiehui:谢辉:销售代表 "
       "hanmei:韩梅:销售代表 tangyu:唐宇:销售代表 fengli:冯丽:销售代表 xiaoshouli:销售-李:销售代表 "
       "dongbin:董斌:销售代表",
    8: "caoyang:曹阳:研发总监 pengfei:彭飞:架构师 zenglin:曾琳:后端工程师 xiaojian:肖剑:后端工程师 "
       "tianyu:田雨:前端工程师 dengchao:邓超:前端工程师 xuwei:许伟:测试工程师 fuhong:傅红:测试工程师 "
       "shenyi:沈毅:运维工程师 luxin:卢鑫:产品经理 jiangtao:蒋涛:产品经理 caili:蔡莉:设计师 "
       "jiayun:贾云:后端工程师 dingning:丁宁:算法工程师 weiqiang:魏强:后端工程师 xuefang:薛芳:测试工程师",
    9: "yexin:叶欣:人力资源经理 yanli:阎丽:招聘专员 yuhai:余海:薪酬专员 panwen:潘雯:培训专员 "
       "duyan:杜燕:人事专员 daijun:戴军:人事专员 xiali:夏莉:招聘专员 zhongwen:钟文:人事专员",
}
# awkward cases a real directory has
STATUS = {"jiayun": STATUS_INACTIVE, "dingning": STATUS_INACTIVE, "xiali": STATUS_INACTIVE,
          "weiqiang": STATUS_DISABLED, "daijun": STATUS_DISABLED, "zhongwen": STATUS_LEFT}
ALSO_IN = {"liuyang": [3], "xuchao": [6, 7]}  # members of two departments
ADMINS = ["wangfang", "lina"]
ADMIN_TAG = 1
CUSTOMER_CHATS = [  # chat_id, name, owner, notice, members (userid, group_nickname)
    ("wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA", "华东客户交流群", "hujie", "文明沟通，禁止发广告",
     [("zhuxia", "华东销售-朱霞"), ("gaoping", "小高"), ("tony", "Tony"),
      ("wmOgQhDgAAuXFJGwbve4g4iXknfOAAAA", "顾客老王"), ("pengfei", "彭飞")]),
    ("wrOgQhDgAAcwMTB7YmDkbeBsgT_AAAAA", "华南VIP客户群", "zhengming", "",
     [("liangjing", "梁静"), ("xiaoshouli", "销售-李"), ("wmOgQhDgAAlC0t9W7FSkqYbx5hxXAAAA", "陈总"),
      ("wmOgQhDgAAp2ZY3eQXpRdJqAhRWEAAAA", "")]),
    ("wrOgQhDgAAs5uH0qU3k2QhQZz8n1AAAA", "售后服务群", "wujun", "服务时间 9:00-18:00",
     [("xuchao", "徐超"), ("hujie", "胡杰"), ("wmOgQhDgAAuXFJGwbve4g4iXknfOAAAA", "王先生")]),
]
MANAGED_CHAT = ("companynotice", "全员通知群", "wangfang", ["wangfang", "lina", "zhangwei", "liuyang", "wujun",
                                                       "caoyang", "yexin", "liuqiang"])


def seed_demo_company(state) -> None:
    with state.lock:
        state.departments[1]["name"] = COMPANY
        for id, name, parentid in DEPARTMENTS:
            state.add_department(id, name, parentid, order=100000000 - id * 1000)
        _seed_staff(state)
        state.admins = list(ADMINS)
        state.add_tag(ADMIN_TAG, "应用管理员", userlist=ADMINS)
        state.add_tag(2, "销售骨干", userlist=["hujie", "zhengming", "zhuxia"], partylist=[])
        state.agent.update(name="群规助手", description="公司微信群管理细则的执行助手")
        base = int(state.now()) - 30 * 86400
        for offset, (chat_id, name, owner, notice, members) in enumerate(CUSTOMER_CHATS):
            entries = [dict(userid=u, group_nickname=nick, join_time=base + offset * 3600 + i * 60,
                            join_scene=1 + i % 3, **_external(u)) for i, (u, nick) in enumerate(members)]
            state.groupchat_create(chat_id, name, owner, entries, notice=notice, admin_list=[members[0][0]])
            chat = state.groupchats[chat_id]
            chat["create_time"] = base + offset * 3600
            chat["member_list"][0].update(join_time=base + offset * 3600, group_nickname="群主")
            state.refresh_member_version(chat)
        chatid, name, owner, userlist = MANAGED_CHAT
        state.appchats[chatid] = dict(chatid=chatid, name=name, owner=owner, userlist=list(userlist), chat_type=0,
                                      agentid=state.agent_id)


# Internal groups created in the WeCom client (no API sees them but the archive): roomid, name,
# creator, members. 研发部-项目沟通 has a member from 销售部 (xuchao: out of 研发部's scope, R11).
RD_ROOM = ("wrKl5dEQAAq6Jq8mVCsWPw1zbMsKFSAA", "研发部-项目沟通", "caoyang",
           ["caoyang", "pengfei", "zenglin", "tianyu", "luxin", "xuchao"])
ADMIN_ROOM = ("wrKl5dEQAAk3cRx0pH8vWm2EeQzlRoAA", "行政部-日常沟通", "wangfang",
              ["wangfang", "lina", "chenjing", "sunli", "zhaolei", "yangmin"])  # yangmin: 财务部
CLASSIFIED = "天穹"  # a classified project name: the demo's archive-only word list has it (R12)
CLASSIFIED_TOO = "北斗七号"  # the list's other word, said in 行政部-日常沟通: caught once the newcomer registers it
INSTRUCTION = "@所有人 请各位周五前提交报表，务必按时"  # caoyang leads 研发部 (R16: the offer card is item 6's)


def seed_archive(state, secret: str, public_key, *, tz: str = "Asia/Shanghai"):
    """The archive on, its scope, the two internal groups and their traffic (times relative to
    the state's clock; the late-night message is from the evening before, still inside WeCom's
    5 days)."""
    archive = enable_archive(state, secret, {1: public_key})
    with state.lock:
        archive.permit_users([u["userid"] for u in state.users.values() if u.get("status") == 1])
    now = state.now()
    for roomid, name, creator, members in (RD_ROOM, ADMIN_ROOM):
        archive.add_room(roomid, name, creator, members, created_at=now - 20 * 86400)
    zone = ZoneInfo(tz)
    evening = datetime.combine(datetime.fromtimestamp(now, zone).date() - timedelta(days=1), time(22, 40), zone)
    rd, admin = RD_ROOM[0], ADMIN_ROOM[0]
    traffic = [
        (rd, "pengfei", "新版本的接口文档已经更新，大家看一下", now - 3600),
        (rd, "xuchao", "销售这边也想看看进度", now - 3000),
        (rd, "pengfei", f"{CLASSIFIED}项目的报价单和架构图我先发群里，大家参考", now - 2400),
        (rd, "zenglin", "接口联调今晚先到这里，日志我发群里了，明早继续", evening.timestamp()),
        (rd, "caoyang", INSTRUCTION, now - 600),
        (admin, "wangfang", "下周一上午九点全员消防演练，请提前安排", now - 1800),
        (admin, "lina", "收到", now - 1700),
        (admin, "yangmin", f"{CLASSIFIED_TOO}的费用预算表需要行政部盖章，我放群里了", now - 1500),
    ]
    for roomid, sender, text, at in traffic:
        archive.post(roomid, sender, text, at=at)
    return archive


def _external(userid: str) -> dict:
    return dict(name="王语嫣", unionid="ozynqsulJFCZ2z1aYeS8h-nuasdAAA") if userid.startswith("wm") else {}


def _seed_staff(state) -> None:
    ceo = STAFF[2].split()[0].split(":")[0]
    for department, people in STAFF.items():
        rows = [p.split(":") for p in people.split()]
        leader = rows[0][0]
        for i, (userid, name, position) in enumerate(rows):
            departments = [department] + ALSO_IN.get(userid, [])
            direct = [] if userid == ceo else [ceo if i == 0 else leader]
            state.add_user(userid, name, departments, is_leader_in_dept=[1 if i == 0 else 0] + [0] * (len(departments) - 1),
                           direct_leader=direct, position=position, status=STATUS.get(userid, 1),
                           alias=userid if name.isascii() else "", gender=str(1 + i % 2),
                           mobile=f"138{department:02d}{i:06d}", email=f"{userid}@yunshan.example")


def make_sandbox(corp_id: str, agent_id: int, secret: str, contact_secret: str | None = None,
                 clock: Callable[[], float] | None = None, *, seed: bool = True) -> SandboxState:
    """A state for `create_emulator`; seeded with the demo company unless `seed=False`."""
    state = SandboxState(corp_id, agent_id, secret, contact_secret, clock)
    if seed:
        seed_demo_company(state)
    return state
