from rest_framework.routers import SimpleRouter

from accounts.api.views import ApiTokenViewSet

router = SimpleRouter()
router.lookup_value_converter = "uuid"
router.register("tokens", ApiTokenViewSet, basename="token")
urlpatterns = router.urls
