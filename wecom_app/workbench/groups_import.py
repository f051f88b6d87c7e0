"""群管理 › 批量登记 (`/groups/import`, admin): register (备案) many existing customer and
internal groups from a spreadsheet (issue 13 item 9; governance/group_import.py does the work).

- `GET /groups/import`: what to do, the template (`/groups/import/template.xlsx` or `.csv`:
  the header row in Chinese and an example row) and the upload form.
- `POST /groups/import`: every problem of every row in one report (row, column, message),
  and nothing registered while there is one; a file we cannot read is refused in one
  sentence. Either answer is 422 with the form again, never a 500; success goes to 群管理.
"""

from __future__ import annotations

from flask import Response, flash, redirect, render_template, request, url_for

from wecom_app.governance import group_import
from wecom_app.workbench.access import audit_action, current_user, roles_required
from wecom_app.workbench.blueprint import bp, runtime
from wecom_app.workbench.forms import EmptyForm

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _page(*, refused: str = "", errors=(), rows: int = 0, filename: str = "", status: int = 200):
    return render_template("workbench/groups_import.html", form=EmptyForm(), refused=refused, errors=list(errors),
                           rows=rows, filename=filename, columns=group_import.COLUMNS,
                           max_rows=group_import.MAX_ROWS, max_kb=group_import.MAX_BYTES // 1024), status


@bp.get("/groups/import")
@roles_required("admin")
def groups_import():
    return _page()


@bp.post("/groups/import")
@roles_required("admin")
def groups_import_upload():
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _page(refused="请选择要上传的 .xlsx 或 .csv 文件", status=422)
    filename = upload.filename
    data = upload.stream.read(group_import.MAX_BYTES + 1)
    rt = runtime()
    try:
        records = group_import.read_file(filename, data)
        with rt.sessions.begin() as db:  # one transaction: ImportRejected rolls back every row
            groups = group_import.import_groups(db, rt.settings, records, actor=current_user().userid,
                                                now=rt.clock(), source=filename)
            audit_action(db, "workbench.group.import", "groups", rows=len(records), filename=filename)
            count = len(groups)
    except group_import.FileRefused as refused:
        return _page(refused=refused.message, filename=filename, status=422)
    except group_import.ImportRejected as rejected:
        return _page(errors=rejected.errors, rows=rejected.rows, filename=filename, status=422)
    flash(f"已从「{filename}」登记 {count} 个群，其成员已按范围检查。", "ok")
    return redirect(url_for("workbench.groups"))


@bp.get("/groups/import/template.<any(xlsx, csv):fmt>")
@roles_required("admin")
def groups_import_template(fmt: str):
    body = group_import.template_xlsx() if fmt == "xlsx" else group_import.template_csv()
    kind = XLSX_TYPE if fmt == "xlsx" else "text/csv; charset=utf-8"
    # RFC 6266/5987: the Chinese file name for browsers, an ASCII one for the rest
    disposition = f"attachment; filename=group-import.{fmt}; filename*=UTF-8''%E7%BE%A4%E7%99%BB%E8%AE%B0%E6%A8%A1%E6%9D%BF.{fmt}"
    return Response(body, mimetype=kind.split(";")[0], headers={"Content-Disposition": disposition,
                                                                "Cache-Control": "no-store"})
