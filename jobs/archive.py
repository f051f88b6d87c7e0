"""Job: the conversation archive every minute (`wecom-app jobs run archive` pulls now): a
thin shell around `wecom_app.archive.job.run` — GetChatData from the stored cursor, rooms
read with msgaudit/groupchat/get, the permit list, the lag (issue 12 items 3, 4)."""

from wecom_app.archive.job import run as run_archive


def run(runtime):
    return run_archive(runtime)
