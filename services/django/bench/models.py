"""The lab's two tables as Django models. The lab creates and seeds them (lab/contract/schema.sql),
so Django neither migrates nor manages them."""

from django.db import models


class World(models.Model):
    randomnumber = models.IntegerField()

    class Meta:
        db_table = "world"
        managed = False

    def as_dict(self) -> dict:
        return {"id": self.id, "randomNumber": self.randomnumber}


class Fortune(models.Model):
    message = models.CharField(max_length=2048)

    class Meta:
        db_table = "fortune"
        managed = False
