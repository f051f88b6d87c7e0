"""The one place that talks to WeCom's server API: the client over wechatpy (`client`), its
errors (`errors`), the shared access token (`token`), the outbox of every state-changing call
(`outbox`) and what became of each (`outcome`), the sending quotas (`quota`), WeCom's text
limits (`textlimits`) and the template cards' task ids (`task_ids`)."""
