"""The operators' usage report: the ledger, read-only, with totals, a date range and CSV.

The ledger is never edited by hand: no add, change or delete here, for staff or superusers.
"""

from django import forms
from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ERROR_FLAG, PAGE_VAR
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseRedirect, StreamingHttpResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from usage import selectors
from usage.export import COLUMNS, usage_csv
from usage.models import DailyUsage, UsageRecord


class DateRangeForm(forms.Form):
    def __init__(self, data, *, gte: str, lte: str):
        super().__init__(data)
        date_input = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
        self.fields[gte] = forms.DateField(label=_("From"), required=False, widget=date_input)
        self.fields[lte] = forms.DateField(label=_("To"), required=False, widget=date_input)


class DateRangeFilter(admin.FieldListFilter):
    """From and to dates, both included, as `<field>__gte` and `<field>__lte` GET parameters.

    Django's own date filter offers fixed periods only ("past 7 days", "this month").
    """

    template = "admin/usage/date_range_filter.html"

    def __init__(self, field, request, params, model, model_admin, field_path):
        self.lookup_gte = f"{field_path}__gte"
        self.lookup_lte = f"{field_path}__lte"
        super().__init__(field, request, params, model, model_admin, field_path)
        values = {name: value[-1] for name, value in self.used_parameters.items()}
        self.form = DateRangeForm(values or None, gte=self.lookup_gte, lte=self.lookup_lte)

    def expected_parameters(self) -> list[str]:
        return [self.lookup_gte, self.lookup_lte]

    def queryset(self, request, queryset):
        if not self.form.is_bound:
            return queryset
        if not self.form.is_valid():
            raise IncorrectLookupParameters(self.form.errors)
        return queryset.filter(**{name: day for name, day in self.form.cleaned_data.items() if day})

    def choices(self, changelist):
        # One "choice": the form, with the page's other parameters carried as hidden fields.
        own = {*self.expected_parameters(), PAGE_VAR, ERROR_FLAG}
        yield {
            "form": self.form,
            "hidden": [(k, v) for k, v in changelist.params.items() if k not in own],
            "selected": bool(self.used_parameters),
            "clear_query_string": changelist.get_query_string(remove=self.expected_parameters()),
        }


class ReadOnlyAdmin(admin.ModelAdmin):
    """Listed and viewed only: the rows are written by the services that record usage."""

    actions = None

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(UsageRecord)
class UsageRecordAdmin(ReadOnlyAdmin):
    # The CSV export is this list, filtered and ordered as shown: the same columns.
    list_display = COLUMNS
    list_select_related = ["user"]
    list_filter = [("day", DateRangeFilter), "kind", "model"]
    search_fields = ["user__username"]
    search_help_text = _("Searches usernames.")
    list_per_page = 100
    show_full_result_count = False

    def get_urls(self):
        export = path(
            "export/",
            self.admin_site.admin_view(self.export_csv),
            name=f"{self.opts.app_label}_{self.opts.model_name}_export",
        )
        return [export, *super().get_urls()]

    def changelist_view(self, request: HttpRequest, extra_context=None):
        response = super().changelist_view(request, extra_context)
        changelist = getattr(response, "context_data", {}).get("cl")
        if changelist is not None:  # not a redirect or an error page
            response.context_data["totals"] = selectors.ledger_totals(records=changelist.queryset)
        return response

    def export_csv(self, request: HttpRequest):
        """The rows the changelist shows with the same filters and search, every page."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            changelist = self.get_changelist_instance(request)
        except IncorrectLookupParameters:
            url = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist")
            return HttpResponseRedirect(f"{url}?{ERROR_FLAG}=1")
        records = changelist.queryset.iterator(chunk_size=2000)
        filename = f"usage-{timezone.localdate():%Y%m%d}.csv"
        return StreamingHttpResponse(
            usage_csv(records),
            content_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )


@admin.register(DailyUsage)
class DailyUsageAdmin(ReadOnlyAdmin):
    list_display = ["user", "day", "tokens", "reserved_tokens", "images"]
    list_select_related = ["user"]
    list_filter = [("day", DateRangeFilter)]
    search_fields = ["user__username"]
    search_help_text = _("Searches usernames.")
    list_per_page = 100
    show_full_result_count = False
